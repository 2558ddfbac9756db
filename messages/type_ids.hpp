// Type IDs of every message type, so that CAF can serialise them between
// nodes. Register them all with register_message_types().
#pragma once

#include <caf/type_id.hpp>

#include "messages/actors.hpp"
#include "messages/console.hpp"
#include "messages/types.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(rpcbatch, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::word_span))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::input_record))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::record_batch))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::element))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::word_batch))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::record_word_count))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::delivery_ack))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::partition_progress))
  CAF_ADD_TYPE_ID(rpcbatch, (std::vector<rpcbatch::partition_progress>))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::rpc_job))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::word_answers))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::resolved_batch))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::failed_batch))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::undelivered_batch))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::rpc_reply))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::partition_offset))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::partition_offsets))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::partition_epoch))
  CAF_ADD_TYPE_ID(rpcbatch, (std::vector<rpcbatch::partition_epoch>))
  CAF_ADD_TYPE_ID(rpcbatch, (std::vector<int32_t>))
  CAF_ADD_TYPE_ID(rpcbatch, (std::vector<uint32_t>))
  CAF_ADD_TYPE_ID(rpcbatch, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::status_client))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::batcher_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::router_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::tokenizer_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::sink_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::rpc_caller_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::source_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::node_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::batcher_host_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::ingest_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (std::vector<rpcbatch::batcher_actor>))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::directory_entry))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::actor_list))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::actor_status))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::actor_directory))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::inspector_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::console_actor))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::node_event))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::node_events))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::event_query))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::node_summaries))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::actor_summary))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::actor_summaries))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::readiness_report))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::control_outcome))
  CAF_ADD_TYPE_ID(rpcbatch, (rpcbatch::metric_families))
CAF_END_TYPE_ID_BLOCK(rpcbatch)

namespace rpcbatch {

/// Adds every type of the rpcbatch block to `cfg`. Call on every node before
/// the actor system starts.
void register_message_types(caf::actor_system_config& cfg);

} // namespace rpcbatch
