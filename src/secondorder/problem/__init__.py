"""The problems: the two-spirals data and the article's network, and the
Moré-Garbow-Hillstrom least-squares test problems."""
