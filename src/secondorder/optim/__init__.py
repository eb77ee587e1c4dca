"""The optimizers: Levenberg-Marquardt (our engine and the article's scipy call),
first-order Keras optimizers, L-BFGS, and the registry of arms that trains them."""
