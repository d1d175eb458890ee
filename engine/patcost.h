/* patcost.h — the compiled size of a regular expression, estimated (patcost.c). */
#ifndef FZ_PATCOST_H
#define FZ_PATCOST_H

/* Positions after expanding bounded repeats. A pattern above
 * FZ_MAX_PATTERN_COST is refused when the pack is read. Measured on this
 * pack (whose largest pattern costs 472): `(a|b)(.{0,40}(x|y)){1,N}q` costs
 * 42N and adds 1.2 s to the compile at N = 12, 3.5 s at N = 25, 10 s at
 * N = 45, 26 s at N = 250, and Hyperscan still finds it too large. */
#define FZ_MAX_PATTERN_COST 1000.0

double fz_pattern_cost(const char *pattern);

#endif
