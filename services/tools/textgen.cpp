#include "services/tools/textgen.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <stdexcept>

#include <librdkafka/rdkafkacpp.h>

#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

constexpr const char* component = "textgen";

/// Common English words, most frequent first; make_sentence favours the
/// front of the list, so that words repeat as in real text.
const char* const words[] = {
  "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was",
  "for", "on", "are", "with", "as", "I", "his", "they", "be", "at", "one",
  "have", "this", "from", "or", "had", "by", "not", "word", "but", "what",
  "some", "we", "can", "out", "other", "were", "all", "there", "when", "up",
  "use", "your", "how", "said", "an", "each", "she", "which", "do", "their",
  "time", "if", "will", "way", "about", "many", "then", "them", "write",
  "would", "like", "so", "these", "her", "long", "make", "thing", "see", "him",
  "two", "has", "look", "more", "day", "could", "go", "come", "did", "number",
  "sound", "no", "most", "people", "my", "over", "know", "water", "than",
  "call", "first", "who", "may", "down", "side", "been", "now", "find", "any",
  "new", "work", "part", "take", "get", "place", "made", "live", "where",
  "after", "back", "little", "only", "round", "man", "year", "came", "show",
  "every", "good", "me", "give", "our", "under", "name", "very", "through",
  "just", "form", "sentence", "great", "think", "say", "help", "low", "line",
  "differ", "turn", "cause", "much", "mean", "before", "move", "right", "boy",
  "old", "too", "same", "tell", "does", "set", "three", "want", "air", "well",
  "also", "play", "small", "end", "put", "home", "read", "hand", "port",
  "large", "spell", "add", "even", "land", "here", "must", "big", "high",
  "such", "follow", "act", "why", "ask", "men", "change", "went", "light",
  "kind", "off", "need", "house", "picture", "try", "us", "again", "animal",
  "point", "mother", "world", "near", "build", "self", "earth", "father",
  "head", "stand", "own", "page", "should", "country", "found", "answer",
  "school", "grow", "study", "still", "learn", "plant", "cover", "food", "sun",
  "four", "between", "state", "keep", "eye", "never", "last", "let", "thought",
  "city", "tree", "cross", "farm", "hard", "start", "might", "story", "saw",
  "far", "sea", "draw", "left", "late", "run", "while", "press", "close",
  "night", "real", "life", "few", "north", "open", "seem", "together", "next",
  "white", "children", "begin", "got", "walk", "example", "ease", "paper",
  "group", "always", "music", "those", "both", "mark", "often", "letter",
  "until", "mile", "river", "car", "feet", "care", "second", "book", "carry",
  "took", "science", "eat", "room", "friend", "began", "idea", "fish",
  "mountain", "stop", "once", "base", "hear", "horse", "cut", "sure", "watch",
  "color", "face", "wood", "main", "enough", "plain", "girl", "usual", "young",
  "ready", "above", "ever", "red", "list", "though", "feel", "talk", "bird",
  "soon", "body", "dog", "family", "direct", "pose", "leave", "song", "measure",
  "door", "product", "black", "short", "numeral", "class", "wind", "question",
  "happen", "complete", "ship", "area", "half", "rock", "order", "fire",
  "south", "problem", "piece", "told", "knew", "pass", "since", "top", "whole",
  "king", "space", "heard", "best", "hour", "better", "true", "during",
  "hundred", "five", "remember", "step", "early", "hold", "west", "ground",
  "interest", "reach", "fast", "verb", "sing", "listen", "six", "table",
  "travel", "less", "morning", "ten", "simple", "several", "vowel", "toward",
  "war", "lay", "against", "pattern", "slow", "center", "love", "person",
  "money", "serve", "appear", "road", "map", "rain", "rule", "govern", "pull",
  "cold", "notice", "voice", "unit", "power", "town", "fine", "certain", "fly",
  "fall", "lead", "cry", "dark", "machine", "note", "wait", "plan", "figure",
  "star", "box", "noun", "field", "rest", "correct", "able", "pound", "done",
  "beauty", "drive", "stood", "contain", "front", "teach", "week", "final",
  "gave", "green", "quick", "develop", "ocean", "warm", "free", "minute",
  "strong", "special", "mind", "behind", "clear", "tail", "produce", "fact",
  "street", "inch", "multiply", "nothing", "course", "stay", "wheel", "full",
  "force", "blue", "object", "decide", "surface", "deep", "moon", "island",
  "foot", "system", "busy", "test", "record", "boat", "common", "gold",
  "possible", "plane", "instead", "dry", "wonder", "laugh", "thousand", "ago",
  "ran", "check", "game", "shape", "equate", "miss", "brought", "heat", "snow",
  "tire", "bring", "yes", "distant", "fill", "east", "paint", "language",
  "among",
};

/// Contractions, drawn separately so that apostrophes show up often enough.
const char* const contractions[] = {
  "it's", "can't", "won't", "isn't", "didn't", "doesn't", "I'm", "you're",
  "we're", "they're", "that's", "there's", "let's", "I've", "we'll", "wasn't",
  "couldn't", "wouldn't", "don't",
};

constexpr std::uint64_t word_count = std::size(words);
constexpr std::uint64_t contraction_count = std::size(contractions);

/// A number in [0, n). Uses only the generator's raw output (whose sequence
/// the standard fixes), not the library-specific distributions, so that a
/// seed gives the same text everywhere.
std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) {
  return rng() % n;
}

/// One word in twelve a contraction, otherwise a word skewed towards the
/// frequent ones (P(i) falls linearly with i).
const char* pick_word(std::mt19937_64& rng) {
  if (below(rng, 12) == 0)
    return contractions[below(rng, contraction_count)];
  return words[std::min(below(rng, word_count), below(rng, word_count))];
}

/// Counts acknowledged messages and keeps the first delivery error. Called
/// from poll() and flush() on the producing thread only.
class delivery_tracker : public RdKafka::DeliveryReportCb {
public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() == RdKafka::ERR_NO_ERROR)
      ++delivered;
    else if (failure.empty())
      failure = message.errstr();
  }

  std::uint64_t delivered = 0;
  std::string failure;
};

using clock_type = std::chrono::steady_clock;

/// Longest single wait, so that `stop` is seen promptly.
constexpr std::chrono::milliseconds poll_slice{50};

/// Final flush when the count is reached, and when stopped early.
constexpr std::chrono::milliseconds final_flush{30000};
constexpr std::chrono::milliseconds stop_flush{2000};

std::unique_ptr<RdKafka::Producer>
make_producer(const textgen_options& options, delivery_tracker& tracker) {
  kafka_props props{{"bootstrap.servers", options.bootstrap},
                    {"enable.idempotence", "true"},
                    {"message.timeout.ms", "30000"}};
  for (auto& [name, value] : options.properties)
    props[name] = value;
  auto conf = make_kafka_conf(props);
  set_kafka_conf(*conf, &tracker);
  std::string err;
  std::unique_ptr<RdKafka::Producer> producer{
    RdKafka::Producer::create(conf.get(), err)};
  if (!producer)
    throw std::runtime_error("cannot create a Kafka producer: " + err);
  return producer;
}

/// Fails unless a broker answers within the connect timeout; warns if the
/// topic is missing (a broker may auto-create it with its own defaults).
void check_cluster(RdKafka::Producer& producer,
                   const textgen_options& options) {
  std::map<std::string, int> topics;
  try {
    topics = list_topics(producer, options.connect_timeout);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot reach Kafka at " + options.bootstrap
                             + ": " + e.what());
  }
  if (topics.count(options.topic) == 0)
    log::warn(component, "topic ", options.topic,
              " does not exist; the broker may auto-create it");
}

void throw_on_failure(const delivery_tracker& tracker,
                      const std::string& topic) {
  if (!tracker.failure.empty())
    throw std::runtime_error("delivery to " + topic
                             + " failed: " + tracker.failure);
}

/// Serves delivery reports until `until`, in slices; false if stopped.
bool wait_until(RdKafka::Producer& producer, clock_type::time_point until,
                const std::atomic<bool>& stop) {
  while (!stop) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - clock_type::now());
    if (left.count() <= 0)
      return true;
    producer.poll(static_cast<int>(std::min(left, poll_slice).count()));
  }
  return false;
}

/// Enqueues one message, waiting in slices while the local queue is full;
/// false if stopped meanwhile.
bool enqueue(RdKafka::Producer& producer, const std::string& topic,
             const std::string& text, const std::atomic<bool>& stop) {
  for (;;) {
    auto err = producer.produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(text.data()), text.size(), nullptr, 0, 0, nullptr);
    if (err == RdKafka::ERR_NO_ERROR)
      return true;
    if (err != RdKafka::ERR__QUEUE_FULL)
      throw std::runtime_error("cannot produce to " + topic + ": "
                               + RdKafka::err2str(err));
    if (stop)
      return false;
    producer.poll(static_cast<int>(poll_slice.count()));
  }
}

} // namespace

std::string make_sentence(std::mt19937_64& rng) {
  auto n = 4 + below(rng, 11);
  std::string result;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (i > 0)
      result += below(rng, 8) == 0 && i + 1 < n ? ", " : " ";
    result += pick_word(rng);
  }
  if (result[0] >= 'a' && result[0] <= 'z')
    result[0] = static_cast<char>(result[0] - 'a' + 'A');
  auto end = below(rng, 10);
  result += end == 0 ? '?' : end == 1 ? '!' : '.';
  return result;
}

std::string make_text(std::mt19937_64& rng, std::size_t max_chars) {
  auto result = make_sentence(rng);
  for (;;) {
    auto next = make_sentence(rng);
    if (result.size() + 1 + next.size() > max_chars)
      return result;
    result += ' ';
    result += next;
  }
}

std::uint64_t produce_text(const textgen_options& options,
                           std::atomic<bool>& stop) {
  if (options.delay_seconds < 0)
    throw std::invalid_argument("textgen: negative delay");
  delivery_tracker tracker;
  auto producer = make_producer(options, tracker);
  check_cluster(*producer, options);
  std::mt19937_64 rng{options.seed};
  auto delay = std::chrono::duration_cast<clock_type::duration>(
    std::chrono::duration<double>(options.delay_seconds));
  auto start = clock_type::now();
  std::uint64_t sent = 0;
  while ((options.count == 0 || sent < options.count) && !stop) {
    // Pace against the start time, so that delays do not drift.
    if (sent > 0 && delay.count() > 0
        && !wait_until(*producer,
                       start + delay * static_cast<clock_type::rep>(sent),
                       stop))
      break;
    auto text = make_text(rng);
    if (!enqueue(*producer, options.topic, text, stop))
      break;
    ++sent;
    producer->poll(0);
    throw_on_failure(tracker, options.topic);
    if (options.verbose && sent % 10 == 0)
      log::info(component, "sent ", sent, " messages... current - ", text);
  }
  auto left = flush_producer(*producer, stop ? stop_flush : final_flush);
  throw_on_failure(tracker, options.topic);
  if (left > 0)
    throw std::runtime_error(std::to_string(left) + " of "
                             + std::to_string(sent) + " messages to "
                             + options.topic + " not acknowledged");
  return tracker.delivered;
}

} // namespace rpcbatch
