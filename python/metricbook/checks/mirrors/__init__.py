"""pandas mirrors of the SQL marts: the same definitions written a second way, to check the SQL."""
