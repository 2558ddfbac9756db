#include "tests/support/harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include <boost/json/parse.hpp>
#include <librdkafka/rdkafkacpp.h>

#include "actors/pipeline/words.hpp"
#include "services/tools/textgen.hpp"

namespace rpcbatch::test {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds left_until(clock_type::time_point deadline) {
  auto left = deadline - clock_type::now();
  return std::max(milliseconds{1},
                  std::chrono::duration_cast<milliseconds>(left));
}

/// A producer handle for produce_values and for metadata questions.
std::unique_ptr<RdKafka::Producer>
make_producer(const std::string& bootstrap, RdKafka::DeliveryReportCb* cb) {
  // Records up to 4 MB, for tests of large records.
  auto conf = make_kafka_conf({{"bootstrap.servers", bootstrap},
                               {"enable.idempotence", "true"},
                               {"linger.ms", "5"},
                               {"message.max.bytes", "4000000"}});
  if (cb != nullptr)
    set_kafka_conf(*conf, cb);
  std::string err;
  std::unique_ptr<RdKafka::Producer> p{RdKafka::Producer::create(conf.get(),
                                                                 err)};
  if (!p)
    throw std::runtime_error("test producer: " + err);
  return p;
}

/// A consumer that never joins a group (assign only, or committed()).
std::unique_ptr<RdKafka::KafkaConsumer>
make_consumer(const std::string& bootstrap, const std::string& group) {
  auto conf = make_kafka_conf({{"bootstrap.servers", bootstrap},
                               {"group.id", group},
                               {"enable.auto.commit", "false"},
                               {"enable.auto.offset.store", "false"},
                               {"enable.partition.eof", "false"}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c{
    RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!c)
    throw std::runtime_error("test consumer: " + err);
  return c;
}

class counting_reports final : public RdKafka::DeliveryReportCb {
public:
  void dr_cb(RdKafka::Message& msg) override {
    if (msg.err() == RdKafka::ERR_NO_ERROR) {
      ++delivered;
      return;
    }
    ++failed;
    std::lock_guard<std::mutex> guard{mtx};
    if (first_error.empty())
      first_error = msg.errstr();
  }

  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::mutex mtx;
  std::string first_error;
};

std::string shorten(const std::string& text, std::size_t n = 60) {
  if (text.size() <= n)
    return text;
  return text.substr(0, n) + "...(" + std::to_string(text.size()) + " bytes)";
}

} // namespace

std::string node_binary() {
  return RPCBATCH_BIN_DIR "/rpcbatch-node";
}

// -- Kafka --------------------------------------------------------------------

namespace {

/// produce_values (value i to partition i % partitions) or, with
/// `partition`, produce_to_partition.
void produce(const std::string& bootstrap, const std::string& topic,
             std::optional<int32_t> only,
             const std::vector<kafka_value>& values, milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  counting_reports reports;
  auto producer = make_producer(bootstrap, &reports);
  auto topics = list_topics(*producer, timeout);
  auto t = topics.find(topic);
  if (t == topics.end())
    throw std::runtime_error("produce: no topic " + topic);
  auto partitions = t->second;
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto& v = values[i];
    auto partition = only ? *only : static_cast<int32_t>(i % partitions);
    for (;;) {
      auto rc = producer->produce(
        topic, partition, RdKafka::Producer::RK_MSG_COPY,
        v ? const_cast<char*>(v->data()) : nullptr, v ? v->size() : 0,
        nullptr, 0, 0, nullptr);
      if (rc == RdKafka::ERR_NO_ERROR)
        break;
      if (rc != RdKafka::ERR__QUEUE_FULL || clock_type::now() >= deadline)
        throw std::runtime_error("produce value " + std::to_string(i) + ": "
                                 + RdKafka::err2str(rc));
      producer->poll(10);
    }
    producer->poll(0);
  }
  while (producer->outq_len() > 0 && clock_type::now() < deadline)
    producer->flush(static_cast<int>(std::min<long long>(
      100, left_until(deadline).count())));
  if (producer->outq_len() > 0)
    throw std::runtime_error("produce: " + std::to_string(producer->outq_len())
                             + " value(s) unacknowledged after "
                             + std::to_string(timeout.count()) + " ms");
  if (reports.failed > 0)
    throw std::runtime_error("produce: " + std::to_string(reports.failed)
                             + " value(s) failed: " + reports.first_error);
  if (reports.delivered != values.size())
    throw std::runtime_error("produce: " + std::to_string(reports.delivered)
                             + " of " + std::to_string(values.size())
                             + " value(s) acknowledged");
}

} // namespace

void produce_values(const std::string& bootstrap, const std::string& topic,
                    const std::vector<kafka_value>& values,
                    milliseconds timeout) {
  produce(bootstrap, topic, std::nullopt, values, timeout);
}

void produce_to_partition(const std::string& bootstrap,
                          const std::string& topic, int32_t partition,
                          const std::vector<kafka_value>& values,
                          milliseconds timeout) {
  produce(bootstrap, topic, partition, values, timeout);
}

std::vector<kafka_record> read_topic(const std::string& bootstrap,
                                     const std::string& topic,
                                     milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto consumer = make_consumer(bootstrap, "rpcbatch-test-reader");
  auto marks = watermark_offsets(*consumer, topic, timeout);
  // Partition -> the offset at which it is read completely.
  std::map<int32_t, int64_t> todo;
  std::vector<RdKafka::TopicPartition*> parts;
  for (auto& m : marks) {
    if (m.low > 0)
      throw std::runtime_error(
        "read " + topic + "[" + std::to_string(m.partition)
        + "]: the broker dropped the oldest " + std::to_string(m.low)
        + " record(s) (size limit of the embedded broker)");
    if (m.high > m.low) {
      todo[m.partition] = m.high;
      parts.push_back(RdKafka::TopicPartition::create(
        topic, m.partition, RdKafka::Topic::OFFSET_BEGINNING));
    }
  }
  std::vector<kafka_record> out;
  if (parts.empty())
    return out;
  auto rc = consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (rc != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("read " + topic + ": assign: "
                             + RdKafka::err2str(rc));
  while (!todo.empty()) {
    if (clock_type::now() >= deadline) {
      consumer->close();
      throw std::runtime_error("read " + topic + ": timed out with "
                               + std::to_string(out.size())
                               + " record(s) read");
    }
    std::unique_ptr<RdKafka::Message> m{consumer->consume(100)};
    if (m->err() == RdKafka::ERR__TIMED_OUT
        || m->err() == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      auto text = m->errstr();
      consumer->close();
      throw std::runtime_error("read " + topic + ": " + text);
    }
    kafka_record r;
    r.partition = m->partition();
    r.offset = m->offset();
    r.timestamp = m->timestamp().timestamp;
    if (m->key_pointer() == nullptr)
      r.null_key = true;
    else
      r.key.assign(static_cast<const char*>(m->key_pointer()), m->key_len());
    if (m->payload() == nullptr)
      r.null_value = true;
    else
      r.value.assign(static_cast<const char*>(m->payload()), m->len());
    auto i = todo.find(r.partition);
    if (i != todo.end() && r.offset < i->second) {
      out.push_back(std::move(r));
      if (out.back().offset + 1 >= i->second)
        todo.erase(i);
    }
  }
  consumer->close();
  std::stable_sort(out.begin(), out.end(), [](auto& x, auto& y) {
    return std::pair{x.partition, x.offset} < std::pair{y.partition, y.offset};
  });
  return out;
}

record_multiset key_values(const std::vector<kafka_record>& records) {
  record_multiset out;
  for (auto& r : records)
    out.emplace(r.key, r.value);
  return out;
}

namespace {

/// One watermark (low or high) of every partition of `topic`.
std::map<int32_t, int64_t> watermarks(const std::string& bootstrap,
                                      const std::string& topic,
                                      milliseconds timeout,
                                      int64_t partition_watermarks::*which) {
  auto producer = make_producer(bootstrap, nullptr);
  std::map<int32_t, int64_t> out;
  for (auto& m : watermark_offsets(*producer, topic, timeout))
    out[m.partition] = m.*which;
  return out;
}

} // namespace

std::map<int32_t, int64_t> end_offsets(const std::string& bootstrap,
                                       const std::string& topic,
                                       milliseconds timeout) {
  return watermarks(bootstrap, topic, timeout, &partition_watermarks::high);
}

std::map<int32_t, int64_t> start_offsets(const std::string& bootstrap,
                                         const std::string& topic,
                                         milliseconds timeout) {
  return watermarks(bootstrap, topic, timeout, &partition_watermarks::low);
}

int64_t stored_records(const std::string& bootstrap, const std::string& topic,
                       milliseconds timeout) {
  auto producer = make_producer(bootstrap, nullptr);
  return rpcbatch::stored_records(watermark_offsets(*producer, topic,
                                                    timeout));
}

std::map<int32_t, int64_t> committed_offsets(const std::string& bootstrap,
                                             const std::string& group,
                                             const std::string& topic,
                                             milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto consumer = make_consumer(bootstrap, group);
  auto topics = list_topics(*consumer, timeout);
  auto t = topics.find(topic);
  if (t == topics.end())
    throw std::runtime_error("committed offsets: no topic " + topic);
  std::vector<RdKafka::TopicPartition*> parts;
  for (int32_t p = 0; p < t->second; ++p)
    parts.push_back(RdKafka::TopicPartition::create(topic, p));
  auto rc = consumer->committed(parts, static_cast<int>(
                                         left_until(deadline).count()));
  std::map<int32_t, int64_t> out;
  for (auto* tp : parts)
    out[tp->partition()] = tp->err() == RdKafka::ERR_NO_ERROR ? tp->offset()
                                                               : -1;
  RdKafka::TopicPartition::destroy(parts);
  consumer->close();
  if (rc != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("committed offsets of " + group + ": "
                             + RdKafka::err2str(rc));
  return out;
}

void commit_offsets(const std::string& bootstrap, const std::string& group,
                    const std::string& topic,
                    const std::map<int32_t, int64_t>& offsets) {
  auto consumer = make_consumer(bootstrap, group);
  std::vector<RdKafka::TopicPartition*> parts;
  for (auto& [partition, offset] : offsets)
    parts.push_back(RdKafka::TopicPartition::create(topic, partition, offset));
  auto rc = consumer->commitSync(parts);
  std::string failed;
  for (auto* tp : parts)
    if (tp->err() != RdKafka::ERR_NO_ERROR)
      failed += " [" + std::to_string(tp->partition())
                + "]: " + RdKafka::err2str(tp->err());
  RdKafka::TopicPartition::destroy(parts);
  consumer->close();
  if (rc != RdKafka::ERR_NO_ERROR || !failed.empty())
    throw std::runtime_error("commit offsets of " + group + ": "
                             + RdKafka::err2str(rc) + failed);
}

bool wait_until(const std::function<bool()>& condition, milliseconds timeout,
                milliseconds step) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (condition())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::min(step, left_until(deadline)));
  }
}

// -- the in-process environment -----------------------------------------------

namespace {

resolver_options on_ephemeral_port(resolver_options opts) {
  opts.listen = "127.0.0.1:0";
  return opts;
}

} // namespace

environment::environment(resolver_options resolver)
  : broker_(1, {{input_topic, 3}, {output_topic, 3}, {dlq_topic, 3}}),
    resolver_(on_ephemeral_port(std::move(resolver))) {
  resolver_.start();
}

std::vector<std::string>
environment::node_command(std::vector<std::string> extra) const {
  std::vector<std::string> cmd{node_binary(),
                               "--bootstrap-servers=" + bootstrap(),
                               "--rpc-target=" + rpc_target()};
  cmd.insert(cmd.end(), extra.begin(), extra.end());
  return cmd;
}

// -- the seed's rule ----------------------------------------------------------

std::string expected_value(std::string_view word) {
  std::string out = "{\"word\":\"";
  out += word;
  out += "\",\"length\":";
  out += std::to_string(word.size());
  out += '}';
  return out;
}

record_multiset expected_outputs(const std::vector<kafka_value>& values) {
  record_multiset out;
  for (auto& v : values)
    if (v)
      for_each_word(*v, [&](std::string_view w) {
        out.emplace(std::string{w}, expected_value(w));
      });
  return out;
}

uint64_t count_words(const std::vector<kafka_value>& values) {
  uint64_t n = 0;
  for (auto& v : values)
    if (v)
      for_each_word(*v, [&](std::string_view) { ++n; });
  return n;
}

std::vector<kafka_value> make_corpus(uint64_t seed, std::size_t lines,
                                     std::size_t max_chars) {
  std::vector<kafka_value> out;
  std::mt19937_64 rng{seed};
  for (std::size_t i = 0; i < lines; ++i)
    out.emplace_back(make_text(rng, max_chars));
  for (const char* line : {
         "Don't stop believing; it's O'Reilly's book.",
         "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xe2\x80\x94 "
         "\xe6\x97\xa5\xe6\x9c\xac",
         "tabs\tand\nnewlines\r\nand   spaces",
         "x y z x y z x y z x y z x y z",
         "12345 67.89 -- !!! ???",
         "''' ' rock'n'roll 'quoted'",
         "ALLCAPS lower MiXeD",
       })
    out.emplace_back(line);
  return out;
}

std::string multiset_diff::describe() const {
  std::string out = std::to_string(missing) + " missing, "
                    + std::to_string(extra) + " extra";
  if (!samples.empty()) {
    out += "; e.g.";
    for (auto& s : samples)
      out += " " + s;
  }
  return out;
}

multiset_diff compare(const record_multiset& expected,
                      const record_multiset& actual) {
  multiset_diff d;
  auto sample = [&](char sign, const std::pair<std::string, std::string>& x) {
    if (d.samples.size() < 8)
      d.samples.push_back(sign + shorten(x.first) + "=" + shorten(x.second));
  };
  auto e = expected.begin();
  auto a = actual.begin();
  while (e != expected.end() || a != actual.end()) {
    if (a == actual.end() || (e != expected.end() && *e < *a)) {
      ++d.missing;
      sample('-', *e++);
    } else if (e == expected.end() || *a < *e) {
      ++d.extra;
      sample('+', *a++);
    } else {
      ++e;
      ++a;
    }
  }
  return d;
}

// -- node runs ----------------------------------------------------------------

std::optional<boost::json::object> parse_summary(const std::string& out) {
  auto end = out.find_last_not_of(" \r\n\t");
  if (end == std::string::npos)
    return std::nullopt;
  auto begin = out.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  boost::json::error_code ec;
  auto v = boost::json::parse(out.substr(begin, end + 1 - begin), ec);
  if (ec || !v.is_object())
    return std::nullopt;
  return v.as_object();
}

uint64_t summary_number(const boost::json::object& summary,
                        std::string_view path) {
  const boost::json::object* obj = &summary;
  std::string_view rest = path;
  for (;;) {
    auto dot = rest.find('.');
    auto name = rest.substr(0, dot);
    auto v = obj->if_contains(name);
    if (v == nullptr)
      throw std::runtime_error("summary has no " + std::string{path});
    if (dot == std::string_view::npos) {
      if (v->is_uint64())
        return v->as_uint64();
      if (v->is_int64() && v->as_int64() >= 0)
        return static_cast<uint64_t>(v->as_int64());
      throw std::runtime_error("summary " + std::string{path}
                               + " is not a count");
    }
    if (!v->is_object())
      throw std::runtime_error("summary has no " + std::string{path});
    obj = &v->as_object();
    rest = rest.substr(dot + 1);
  }
}

namespace {

node_run with_summary(process_result p) {
  node_run r;
  r.process = std::move(p);
  if (auto s = parse_summary(r.process.out)) {
    r.summary = std::move(*s);
    r.has_summary = true;
  }
  return r;
}

} // namespace

std::string listening_address(child_process& process,
                              milliseconds timeout) {
  return listening_address(process, "", timeout);
}

std::string listening_address(child_process& process, const std::string& what,
                              milliseconds timeout) {
  const std::string marker = what + (what.empty() ? "" : " ") + "listening on ";
  if (!process.wait_for_stdout(marker, timeout))
    throw std::runtime_error("the program did not start listening: "
                             + process.err());
  auto out = process.out();
  auto from = out.find(marker) + marker.size();
  return out.substr(from, out.find_first_of(" \n", from) - from);
}

std::vector<std::string> resolver_command(const std::string& listen,
                                          const std::vector<std::string>& extra) {
  std::vector<std::string> argv{std::string{RPCBATCH_BIN_DIR}
                                  + "/rpcbatch-resolver",
                                "--listen=" + listen};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

namespace {

std::vector<std::string> batcher_command(const std::string& rpc_target,
                                         const std::vector<std::string>& extra,
                                         const std::string& listen) {
  std::vector<std::string> argv{node_binary(), "--role=batcher",
                                "--listen=" + listen,
                                "--rpc-target=" + rpc_target};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

} // namespace

batcher_node::batcher_node(const std::string& rpc_target,
                           const std::vector<std::string>& extra,
                           const std::string& listen)
  : process(batcher_command(rpc_target, extra, listen)),
    address(listening_address(process)) {
}

node_run run_node(const std::vector<std::string>& command,
                  milliseconds timeout) {
  return with_summary(run_process(command, "", timeout));
}

node_run finished_run(child_process& child) {
  process_result p;
  p.exit_code = child.exit_code().value_or(-1);
  child.wait_output_closed(std::chrono::seconds{10});
  p.out = child.out();
  p.err = child.err();
  return with_summary(std::move(p));
}

std::string tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

test_certificates::test_certificates() {
  char name[] = "/tmp/rpcbatch-tls-XXXXXX";
  if (mkdtemp(name) == nullptr)
    throw std::runtime_error("cannot make a directory for certificates");
  dir = name;
  auto openssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    auto r = run_process(args);
    if (r.exit_code != 0)
      throw std::runtime_error("openssl: " + r.err);
  };
  openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
           "-subj", "/CN=rpcbatch test CA", "-keyout", dir + "/ca.key",
           "-out", dir + "/ca.pem"});
  openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
           "-keyout", dir + "/node.key", "-out", dir + "/node.csr"});
  // gRPC checks the name it connects to against the subject's alt names.
  {
    std::ofstream ext{dir + "/node.ext"};
    ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  }
  openssl({"x509", "-req", "-days", "2", "-in", dir + "/node.csr", "-CA",
           dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial",
           "-extfile", dir + "/node.ext", "-out", dir + "/node.pem"});
  openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
           "-subj", "/CN=stranger", "-keyout", dir + "/other.key", "-out",
           dir + "/other.pem"});
}

test_certificates::~test_certificates() {
  std::filesystem::remove_all(dir);
}

std::vector<std::string> test_certificates::options(bool stranger) const {
  auto cert = dir + (stranger ? "/other" : "/node");
  return {"--openssl.certificate=" + cert + ".pem",
          "--openssl.key=" + cert + ".key",
          "--openssl.cafile=" + dir + (stranger ? "/other.pem" : "/ca.pem")};
}

int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

} // namespace rpcbatch::test
