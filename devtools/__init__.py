"""Development tools shared by the tests and the benchmarks (bench/); not part of the installed package (`rag`)."""
