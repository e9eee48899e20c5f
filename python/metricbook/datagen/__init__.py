"""Data generation: the teaching seeds, the alternate file set and the scale data. A tool for
learning and testing; the product never imports it."""
