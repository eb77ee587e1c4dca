"""The article's code, transcribed as it was published (indentation restored), used as
an independent oracle: tests compare the library against these functions, never
against the library itself."""

import numpy as np


def spiral_data(nsamp):
    n = int(nsamp / 2)
    spiral_dat = np.zeros((nsamp, 4))
    cntr = 0
    deltaT = 0
    for i in range(n):
        r = i / n * 5
        t = 1.75 * i / n * 2 * np.pi + deltaT
        x = r * np.sin(t)
        y = r * np.cos(t)
        spiral_dat[cntr, 0] = x
        spiral_dat[cntr, 1] = y
        spiral_dat[cntr, 2] = 1
        cntr += 1
    deltaT = np.pi
    for i in range(n):
        r = i / n * 5
        t = 1.75 * i / n * 2 * np.pi + deltaT
        x = r * np.sin(t)
        y = r * np.cos(t)
        spiral_dat[cntr, 0] = x
        spiral_dat[cntr, 1] = y
        spiral_dat[cntr, 3] = 1
        cntr += 1
    return spiral_dat


def split(spiral_dat):
    np.random.seed(0)
    trn = np.random.choice(np.arange(0, spiral_dat.shape[0]),
                           int(np.floor(spiral_dat.shape[0] * 0.80)), replace=False)
    val = np.setdiff1d(np.arange(0, spiral_dat.shape[0]), trn)
    return trn, val


def linear_scale(data, scale_min, scale_max, data_min, data_max):
    scaled_data = np.zeros((data.shape))
    for i in range(0, data.shape[1]):
        scaler = (scale_max[i] - scale_min[i]) / (data_max[i] - data_min[i])
        scaled_data[:, i] = (scaler * (data[:, i] - data_min[i])) + scale_min[i]
    return scaled_data


def scaled_inputs(spiral_dat, trn):
    return linear_scale(spiral_dat[:, 0:2], np.array((0.1, 0.1)), np.array((0.9, 0.9)),
                        np.max(spiral_dat[trn, 0:2], axis=0),
                        np.min(spiral_dat[trn, 0:2], axis=0))


def initial_weights():
    nin, nhid, nout = 2, 25, 2
    npar_w1 = (nin + 1) * nhid
    np.random.seed(1)
    ws_init = np.random.uniform(-0.1, 0.1, ((nin + 1) * nhid) + ((nhid + 1) * nout))
    w_hid = np.reshape(ws_init[0:npar_w1], (nin + 1, nhid), 'F')
    w_out = np.reshape(ws_init[npar_w1:], (nhid + 1, nout), 'F')
    b_hid = w_hid[w_hid.shape[0] - 1, :]
    w_hid = w_hid[0:(w_hid.shape[0] - 1), :]
    b_out = w_out[w_out.shape[0] - 1, :]
    w_out = w_out[0:(w_out.shape[0] - 1), :]
    return ws_init, [w_hid, b_hid, w_out, b_out]


def sig(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    ex = np.exp(x)
    return ex / np.atleast_2d(np.sum(ex, axis=1)).T


def mlp(x, ws, nhid, nout):
    nin = x.shape[1]
    npar_w1 = (nin + 1) * nhid
    w_hid1 = np.reshape(ws[0:npar_w1], (nin + 1, nhid), 'F')
    w_out = np.reshape(ws[npar_w1:], (nhid + 1, nout), 'F')
    x = np.hstack((x, np.ones((x.shape[0], 1))))
    hid1 = sig(np.matmul(x, w_hid1))
    hid1 = np.hstack((hid1, np.ones((hid1.shape[0], 1))))
    out = softmax(np.matmul(hid1, w_out))
    return out
