"""Map services over the spatial core: queries, statistics, grading, risk surface, tiles."""
