/* shortest.h - shortest round-trip decimal digits of a double (see
 * shortest.c). Pure, no I/O, no allocation. */
#ifndef PT_SHORTEST_H
#define PT_SHORTEST_H

/* For a finite a > 0: writes the fewest decimal digits d1..dk (k <= 17, no
 * terminating NUL, no trailing zero) such that 0.d1..dk * 10^n reads back as
 * a under round-to-nearest-even; of several such k-digit decimals, the one
 * closest to a, an even dk on a tie. Stores n in *exp10 and returns k. */
int pt_shortest_digits(double a, char *digits /* out, >= 17 bytes */, int *exp10 /* out */);

#endif
