/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef SYNFIN_SHOW_H
#define SYNFIN_SHOW_H

/* `synfin show`: argv[0] is "show". Returns the exit status. */
int show__main(int argc, char **argv);

#endif
