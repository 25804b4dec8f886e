#include "latency_plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace echo::bench {
namespace {

constexpr double width = 800;
constexpr double height = 460;
constexpr double left = 80;
constexpr double right = 30;
constexpr double top = 50;
constexpr double bottom = 60;
constexpr double decades = 5;  // 1/(1-p) up to 10^5: 99.999 %
constexpr int steps = 200;

// XML text: the title comes from the command line.
std::string escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A round axis top at or above v: 1, 2 or 5 times a power of ten.
double nice_ceiling(double v) {
  if (v <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

}  // namespace

latency_plot::latency_plot(std::string title, std::vector<series> lines)
    : title_(std::move(title)), lines_(std::move(lines)) {}

std::string latency_plot::svg() const {
  double max_ns = 0;
  for (const auto& l : lines_) max_ns = std::max(max_ns, l.values->quantile_ns(0.99999));
  // Microseconds unless the tail reaches 10 ms.
  const bool ms = max_ns >= 10e6;
  const double unit = ms ? 1e6 : 1e3;
  const double y_top = nice_ceiling(max_ns / unit * 1.05);
  const double plot_w = width - left - right;
  const double plot_h = height - top - bottom;
  const auto x_of = [&](double decade) { return left + decade / decades * plot_w; };
  const auto y_of = [&](double v) { return top + plot_h - std::min(v / y_top, 1.0) * plot_h; };

  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"15\">{3}</text>\n",
      width, height, left, escaped(title_));
  // Grid: one vertical line per decade of 1/(1-p), five horizontal ones.
  static constexpr const char* labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
  for (int d = 0; d <= static_cast<int>(decades); ++d) {
    const double x = x_of(d);
    out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>\n", x,
                       top, top + plot_h);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, top + plot_h + 18,
                       labels[d]);
  }
  for (int i = 0; i <= 5; ++i) {
    const double v = y_top * i / 5;
    const double y = y_of(v);
    out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left, y,
                       left + plot_w, y);
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", left - 6, y + 4, v);
  }
  out += fmt::format(
      "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">percentile (log scale of 1/(1-p))</text>\n",
      left + plot_w / 2, height - 14);
  out += fmt::format(
      "<text x=\"18\" y=\"{:.1f}\" transform=\"rotate(-90 18 {:.1f})\" text-anchor=\"middle\">"
      "latency ({})</text>\n",
      top + plot_h / 2, top + plot_h / 2, ms ? "ms" : "us");
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n",
                     left, top, plot_w, plot_h);
  double legend_y = top + 18;
  for (const auto& l : lines_) {
    std::string points;
    for (int s = 0; s <= steps; ++s) {
      const double decade = decades * s / steps;
      const double q = 1.0 - std::pow(10.0, -decade);
      points += fmt::format("{:.1f},{:.1f} ", x_of(decade), y_of(l.values->quantile_ns(q) / unit));
    }
    points.pop_back();
    out += fmt::format("<polyline id=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                       l.id, l.colour, points);
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"2\"/>"
        "<text x=\"{4}\" y=\"{5:.1f}\">{6}</text>\n",
        left + 12, legend_y, left + 36, l.colour, left + 42, legend_y + 4, l.id);
    legend_y += 18;
  }
  out += "</svg>\n";
  return out;
}

void latency_plot::write(const std::string& path) const {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("--plot: cannot write " + path + ": " + std::strerror(errno));
  const std::string t = svg();
  const bool ok = std::fwrite(t.data(), 1, t.size(), f) == t.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("--plot: cannot write " + path);
}

}  // namespace echo::bench
