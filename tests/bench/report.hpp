// What a benchmark prints at its end: figures as medians over rounds with
// their range, in a Markdown table; and the nodes it compares, given as
// --nodes=PATH[ options],PATH[ options] (labelled A, B, ...). The same
// conventions as rpcbatch-bench-pipeline's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "services/config/addresses.hpp"
#include "services/config/program.hpp"

namespace rpcbatch::bench {

inline std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::istringstream in{text};
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty())
      out.push_back(item);
  return out;
}

/// A node to measure: a binary and options of its own, labelled A, B, ...
struct node_spec {
  std::string label;
  /// As given to --nodes.
  std::string text;
  /// The binary, then its options.
  std::vector<std::string> words;
};

/// "PATH --opt=X,PATH --opt=Y" -> A and B; throws cli_error if empty.
inline std::vector<node_spec> parse_nodes(const std::string& text) {
  std::vector<node_spec> out;
  for (auto& item : split(text, ',')) {
    auto words = split(item, ' ');
    if (words.empty())
      continue;
    std::string label(1, static_cast<char>('A' + out.size() % 26));
    out.push_back(node_spec{label, item, std::move(words)});
  }
  if (out.empty())
    throw cli_error("no nodes");
  return out;
}

/// The values of one figure, one per round.
class samples {
public:
  void add(double x) {
    xs_.push_back(x);
  }

  double median() const {
    if (xs_.empty())
      return 0;
    auto xs = xs_;
    std::sort(xs.begin(), xs.end());
    auto mid = xs.size() / 2;
    return xs.size() % 2 == 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  }

  double min() const {
    return xs_.empty() ? 0 : *std::min_element(xs_.begin(), xs_.end());
  }

  double max() const {
    return xs_.empty() ? 0 : *std::max_element(xs_.begin(), xs_.end());
  }

  bool empty() const {
    return xs_.empty();
  }

  std::size_t size() const {
    return xs_.size();
  }

private:
  std::vector<double> xs_;
};

/// 1234567.8 -> "1,234,568".
inline std::string grouped(double x) {
  auto n = std::llround(x);
  auto digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

inline std::string one_decimal(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

using format = std::string (*)(double);

/// The median, and the range if the samples differ:
/// "81,100 (77,600-82,000)"; "-" without samples.
inline std::string cell(const samples& s, format f = grouped) {
  if (s.empty())
    return "-";
  auto out = f(s.median());
  if (f(s.min()) != f(s.max()))
    out += " (" + f(s.min()) + "-" + f(s.max()) + ")";
  return out;
}

/// Prints `rows` under `header` as a Markdown table, columns padded to
/// their widest cell.
inline void print_table(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    width[i] = std::max<std::size_t>(3, header[i].size());
  for (auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (std::size_t i = 0; i < cells.size(); ++i)
      out += " " + cells[i] + std::string(width[i] - cells[i].size(), ' ')
             + " |";
    std::printf("%s\n", out.c_str());
  };
  line(header);
  std::vector<std::string> rule;
  for (auto w : width)
    rule.push_back(std::string(w, '-'));
  line(rule);
  for (auto& row : rows)
    line(row);
}

/// A benchmark's main(): reads the options of `cfg` (a program_config),
/// makes them a Bench's options with `parse` and runs it; an exception is
/// printed with the program's name and exits 1.
template <class Bench, class Config, class Parse>
int run_bench(Config& cfg, int argc, char** argv, Parse parse) {
  return run_program(cfg, argc, argv, [&] {
    auto opts = parse(cfg);
    try {
      Bench{std::move(opts)}.run();
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "%s: %s\n", cfg.name().c_str(), e.what());
      return 1;
    }
    return 0;
  });
}

} // namespace rpcbatch::bench
