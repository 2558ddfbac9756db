// An ingest node's link to one batcher node, as a state machine of three
// behaviours (after CAF's distributed calculator example):
//
//   unconnected --reconnect, join--> connecting --offered--> attached
//     ^     ^                          |    ^                     |
//     |     |_________failed___________|    |__join (restarted)___|
//     |                                     |__lost batcher_______|
//     |_____lost node, lost batcher (after a reattach delay)______|
//
// Connecting reaches the node's published batcher host (unless the host
// came with a join) and attaches with the ingest node's sink: the host
// spawns one batcher per bucket. Attached, the link watches the host and
// the batchers; when they go it tells the cluster and goes back to
// unconnected. A configured node is tried again after a growing delay
// (1 s doubling to 30 s); a node that only joined by itself waits for its
// next join. A batcher that stops on a node that stays up makes the link
// attach again: at once the first time, then after a growing delay while
// it keeps happening within a minute, so that words that kill a batcher
// cannot make a busy loop of it.
//
// Each behaviour takes only what is valid in its state: the timer of the
// next attempt only while unconnected (an older attempt's timer, and every
// timer while connecting or attached, is counted as stale and ignored);
// a reply only for the attempt that runs (replies of attempts given up are
// stale too, and the batchers they offer are stopped); downs only while
// attached. A join attaches the host it brings while unconnected or
// connecting; attached, the host in use changes nothing and another host
// means the node restarted before its loss was seen.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "messages/actors.hpp"

namespace rpcbatch {

struct batcher_link_config {
  /// The node's address (HOST:PORT).
  std::string node;
  /// Listed in --batcher-nodes: connected to at start and tried again
  /// whenever it is lost.
  bool configured = false;
  uint32_t buckets = 0;
  sink_actor sink;
  cluster_actor cluster;
};

/// The behaviour a link has.
enum class link_phase { unconnected, connecting, attached };

const char* to_string(link_phase x);

struct batcher_link_state {
  static inline const char* name = "batcher-link";
  batcher_link_actor::stateful_pointer<batcher_link_state> self = nullptr;
  batcher_link_config cfg;
  link_phase phase = link_phase::unconnected;
  /// The host attached or being attached; kept while unconnected after a
  /// lost batcher (attached again) and dropped when the node is lost.
  batcher_host_actor host;
  std::vector<batcher_actor> batchers;
  /// Numbers every attempt and timer: replies and timers of an older one
  /// are ignored.
  uint64_t attempt = 0;
  /// Attempts since the node was last attached.
  uint64_t attempts = 0;
  /// The delay before the next connection attempt.
  caf::timespan backoff{0};
  /// The delay before attaching again after a lost batcher, and when one
  /// was last lost (none yet: empty).
  caf::timespan reattach_delay{0};
  std::optional<caf::actor_clock::time_point> last_lost;
  /// When the timer of the next attempt fires (none pending: empty).
  std::optional<caf::actor_clock::time_point> next_attempt;
  /// The counters, in the struct that reports them: status() copies them
  /// and adds the rest.
  batcher_link_status counters;

  // -- unconnected ------------------------------------------------------------

  /// The timer of attempt `n` fired: connects, unless it is an older one.
  void timer_fired(uint64_t n);

  // -- unconnected and connecting ---------------------------------------------

  /// Whether `x` is a host other than the one attached or being attached.
  bool new_host(const batcher_host_actor& x) const;

  /// Starts a new attempt at host `x` (an attempt that runs is given up).
  void attach_to(batcher_host_actor x);

  // -- connecting -------------------------------------------------------------

  /// A new attempt (-> connecting): attaches to the known host, or reaches
  /// the node's published host first.
  void connect();

  /// The host answered attempt `n` with these batchers: attached if they
  /// are one per bucket (-> attached), failed otherwise; the batchers of
  /// an older attempt are stopped.
  void offered(uint64_t n, std::vector<batcher_actor>& xs);

  /// Attempt `n` failed (-> unconnected), unless it is an older one.
  void failed(uint64_t n, const std::string& why);

  // -- attached ---------------------------------------------------------------

  /// The node offered another host: it restarted before its loss was seen.
  /// Its batchers are lost and the new host is attached (-> connecting).
  void restarted(batcher_host_actor x);

  /// A watched actor went down: the host (or the link to the node) means
  /// the node is lost (-> unconnected), a batcher that the link attaches
  /// again (-> connecting, or unconnected until the reattach delay ran
  /// out). Downs of actors no longer watched are ignored.
  void down(const caf::down_msg& msg);

  // -- every state ------------------------------------------------------------

  /// A timer or reply of an older attempt: counted and ignored.
  void ignore_stale();

  actor_status status() const;

private:
  /// Whether a reply to attempt `n` belongs to the attempt that runs now.
  bool current(uint64_t n) const;

  void attach(uint64_t n);
  void enter_attached(std::vector<batcher_actor> xs);

  /// Stops watching the attached node and tells the cluster that its
  /// batchers are gone.
  void detach(bool node_gone);

  /// Tells the cluster that the attempt failed, then waits.
  void fail(const std::string& why);

  /// Unconnected until the next attempt: a configured node is tried again
  /// after the backoff, a node that joined by itself waits for its next
  /// join.
  void wait_for_next_attempt(const std::string& why);

  /// A batcher stopped on a node that stays up: attach to it again, at
  /// once the first time, later while it keeps happening.
  void batcher_lost(const caf::error& reason);

  /// Sends the timer of the next attempt in `delay` (-> unconnected).
  void schedule_attempt(caf::timespan delay);
};

batcher_link_actor::behavior_type
batcher_link(batcher_link_actor::stateful_pointer<batcher_link_state> self,
             batcher_link_config cfg);

} // namespace rpcbatch
