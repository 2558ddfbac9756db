// How rpcbatch-console shows the inspector's answers: the node and actor
// tables, event lines, an actor's status as pretty JSON and the frame of
// `watch`. Pure functions of the typed answers (console_actor in
// messages/actors.hpp, messages/console.hpp).
#pragma once

#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "messages/console.hpp"

namespace rpcbatch {

/// JSON with two-space indentation, one member per line.
std::string pretty_json(const boost::json::value& v);

/// An actor's status as one JSON object: its fields, mailbox, name, node,
/// role and whether it answered (the answer of `status` with --json).
boost::json::object actor_json(const actor_summary& actor);

/// The same as pretty JSON.
std::string show_actor(const actor_summary& actor);

/// The answer of `nodes` as text.
std::string show_nodes(const node_summaries& nodes);

/// The answer of `actors` as a table: name, node, mailbox, words/s, state.
std::string show_actors(const actor_summaries& actors);

/// The answer of `events` as one line per event.
std::string show_events(const node_events& events);

/// An event's time as UTC text, e.g. "2026-12-07T21:42:50.123Z".
std::string utc_text(int64_t unix_ms);

/// One frame of `watch`: a header from `nodes` and one row per actor (bag
/// size, counter, ms until the pending flush, flushes by trigger, calls or
/// words in flight, words/s, consumer lag), cut to `width` columns and
/// `height` lines.
std::string watch_frame(const std::string& target, const node_summaries& nodes,
                        const actor_summaries& actors, int width, int height);

} // namespace rpcbatch
