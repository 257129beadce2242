/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* synfin top: the live view (top.c); its model is top_model.h. */
#ifndef SYNFIN_TOP_H
#define SYNFIN_TOP_H

/* argv[0] is "top". An exit status. */
int top__main(int argc, char **argv);

#endif
