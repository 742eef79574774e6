/** grpc-js options shared by the service servers and the gateway's grpc-js clients. */
import type { ChannelOptions } from "@grpc/grpc-js";

/** grpc-js channel and server options: message limits, keepalive, no channelz. */
export function grpcOptions(maxMessageBytes: number): ChannelOptions {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    // channelz bookkeeping costs on every call and nothing here reads it.
    "grpc.enable_channelz": 0,
  };
}
