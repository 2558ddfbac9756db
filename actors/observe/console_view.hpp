// How rpcbatch-console shows the inspector's answers: pretty JSON, the node
// and actor tables, event lines and the frame of `watch`. Pure functions of
// the JSON answers (see console_actor in messages/actors.hpp).
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace rpcbatch {

/// JSON with two-space indentation, one member per line.
std::string pretty_json(const boost::json::value& v);

/// The answer of `nodes` as text.
std::string show_nodes(const boost::json::value& nodes);

/// The answer of `actors` as a table: name, node, mailbox, words/s, state.
std::string show_actors(const boost::json::value& actors);

/// The answer of `events` as one line per event.
std::string show_events(const boost::json::value& events);

/// One frame of `watch`: a header from `nodes` and one row per actor (bag
/// size, counter, ms until the pending flush, flushes by trigger, calls or
/// words in flight, words/s, consumer lag), cut to `width` columns and
/// `height` lines.
std::string watch_frame(const std::string& target,
                        const boost::json::value& nodes,
                        const boost::json::value& actors, int width,
                        int height);

} // namespace rpcbatch
