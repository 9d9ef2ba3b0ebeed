/* zmq_adapter.h - the `zmq` transport: proto/network.proto to a platform's
 * gateway over one ZeroMQ DEALER (zmq_adapter.c). Reached through the
 * registry (adapter_find("zmq")); nothing else of it is public. */
#ifndef SLUICE_ZMQ_ADAPTER_H
#define SLUICE_ZMQ_ADAPTER_H

#include "adapter.h"

extern const adapter_ops_t zmq_adapter_ops;

#endif
