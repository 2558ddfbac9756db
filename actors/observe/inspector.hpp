// The inspector: what the console (over CAF's middleman) and the HTTP
// endpoints see of a node. It knows every actor of the node by name through
// the node's (or the batcher host's) directory; on an ingest node the
// directory names the hosts of the batcher nodes in use too, and their
// actors join the view, so one console shows the whole cluster.
// It samples every actor's status periodically: each status carries the
// actor's recent events, recorded when they happened (actors/observe/event_log.hpp),
// which the inspector keeps in a bounded ring; the differences between two
// samples are the words/s rates and the buckets that moved to another node.
// Operator controls (flush, pause, resume, drain) are refused unless the
// node allows them.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <caf/timespan.hpp>

#include "actors/observe/status.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

class kafka_consumer;

struct inspector_config {
  /// all, ingest or batcher.
  std::string role = "all";
  std::string version;
  /// The node's options in effect (name -> value).
  boost::json::object options;
  /// Whether operator controls are allowed (--console-control).
  bool control = false;
  /// What a control must carry if not empty (--console-control-token): with
  /// TLS every holder of a certificate of the CA reaches the console port,
  /// and libcaf_openssl cannot tell operators from nodes.
  std::string control_token;
  /// How often every actor's status is sampled for events and rates.
  caf::timespan sample_interval = std::chrono::seconds(1);
  /// How many events the ring keeps.
  std::size_t max_events = 1000;
};

/// What the inspector looks at; only the directory is required.
struct inspector_targets {
  /// The node or the batcher host: answers the actors by name.
  actor_directory directory;
  /// The node (drain); null on a batcher node.
  node_actor node;
  /// The consumer (pause, resume, lag); null on a batcher node.
  std::shared_ptr<kafka_consumer> consumer;
};

struct inspector_state {
  static inline const char* name = "inspector";
  inspector_config cfg;
  inspector_targets targets;
  caf::actor_clock::time_point started;
  /// The newest view absorbed: every actor's status by name. Each view
  /// (periodic or asked for) yields the events since the one before; views
  /// are numbered when they start, and an older one arriving late is not
  /// absorbed.
  status_map last;
  uint64_t views_started = 0;
  uint64_t last_view = 0;
  /// Controls refused for a wrong or missing control token.
  uint64_t controls_refused = 0;
  /// A periodic sample is under way.
  bool sampling = false;
  /// Words per second of every actor, over at least half a sample interval
  /// since `rate_base` was taken.
  std::map<std::string, double> rates;
  status_map rate_base;
  std::optional<caf::actor_clock::time_point> rate_base_at;
  /// The most recent events, oldest first; ids count every event ever.
  std::deque<boost::json::object> events;
  uint64_t next_event = 1;
  /// The sequence number of the newest event taken from each actor.
  std::map<std::string, uint64_t> events_seen;
  /// Whether each batcher node seen so far is in use and answered the last
  /// time it was asked.
  std::map<std::string, bool> nodes_up;

  /// Appends an event (with id, its time as text and the inspector's uptime
  /// then) and drops the oldest beyond the ring's size.
  void record(boost::json::object event, double uptime_seconds);
};

inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self,
          inspector_config cfg, inspector_targets targets);

} // namespace rpcbatch
