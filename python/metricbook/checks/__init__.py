"""The checking tools: pandas mirrors of the marts, cross-engine parity, the pitfall gallery and
the benchmark. They verify the product; the product never imports them."""
