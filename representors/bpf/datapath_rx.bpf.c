// SPDX-License-Identifier: GPL-2.0
/* The host datapath with vfs_xdp_rx, the XDP entry that reads the port's RX
 * metadata: a separate object because its kfuncs exist only from Linux 6.3,
 * and the datapath itself must load on older kernels. Datapath::loadRxEntry
 * loads only vfs_xdp_rx from it, bound to one port, on the pinned maps. */
#define VFS_RX_METADATA 1
#include "datapath.bpf.c"
