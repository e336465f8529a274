#include "bootstrap/tcp_io.h"

#include <cstring>

namespace sam {

namespace asio = boost::asio;

Tcp::endpoint toEndpoint(const RootAddress& a) {
  if (a.family == 6) {
    asio::ip::address_v6::bytes_type b;
    memcpy(b.data(), a.addr, 16);
    return Tcp::endpoint(asio::ip::address_v6(b), a.port);
  }
  asio::ip::address_v4::bytes_type b;
  memcpy(b.data(), a.addr, 4);
  return Tcp::endpoint(asio::ip::address_v4(b), a.port);
}

RootAddress fromEndpoint(const Tcp::endpoint& e) {
  RootAddress a;
  a.port = e.port();
  if (e.address().is_v6()) {
    a.family = 6;
    auto b = e.address().to_v6().to_bytes();
    memcpy(a.addr, b.data(), 16);
  } else {
    a.family = 4;
    auto b = e.address().to_v4().to_bytes();
    memcpy(a.addr, b.data(), 4);
  }
  return a;
}

namespace {

struct ReadState {
  uint8_t header[wire::kHeaderBytes];
  wire::Header parsed;
  std::string body;
  wire::Limits limits;
  std::function<void(const ReadOutcome&)> done;
};

void finish(const std::shared_ptr<ReadState>& st, ReadOutcome::Kind kind, std::string detail) {
  ReadOutcome o;
  o.kind = kind;
  o.detail = std::move(detail);
  st->done(o);
}

}  // namespace

void asyncReadMessage(Tcp::socket& socket, const wire::Limits& limits,
                      std::function<void(const ReadOutcome&)> done) {
  auto st = std::make_shared<ReadState>();
  st->limits = limits;
  st->done = std::move(done);
  asio::async_read(socket, asio::buffer(st->header), [st, &socket](const boost::system::error_code& ec, size_t) {
    if (ec) return finish(st, ReadOutcome::Closed, ec.message());
    wire::ParseResult r = wire::parseHeader(st->header, sizeof(st->header), st->limits, &st->parsed);
    if (r.status != wire::ParseStatus::Ok) return finish(st, ReadOutcome::Invalid, r.error);
    st->body.resize(st->parsed.length);
    auto onBody = [st](const boost::system::error_code& ec2, size_t) {
      if (ec2) return finish(st, ReadOutcome::Closed, ec2.message());
      ReadOutcome o;
      wire::ParseResult b = wire::parseBody(st->parsed, reinterpret_cast<const uint8_t*>(st->body.data()),
                                            st->body.size(), st->limits, &o.message);
      if (b.status != wire::ParseStatus::Ok) return finish(st, ReadOutcome::Invalid, b.error);
      o.kind = ReadOutcome::Message;
      st->done(o);
    };
    if (st->body.empty()) return onBody({}, 0);
    asio::async_read(socket, asio::buffer(&st->body[0], st->body.size()), onBody);
  });
}

}  // namespace sam
