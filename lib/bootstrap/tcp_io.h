// Small Boost.Asio helpers shared by the root listener and the bootstrap:
// address conversion and reading one framed message (header, then a body whose
// size the parsed header has bounded).
#pragma once

#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <string>

#include "bootstrap/unique_id.h"
#include "bootstrap/wire.h"

namespace sam {

using Tcp = boost::asio::ip::tcp;

Tcp::endpoint toEndpoint(const RootAddress& a);
RootAddress fromEndpoint(const Tcp::endpoint& e);

// How reading one message ended.
struct ReadOutcome {
  enum Kind { Pending, Message, Closed, Invalid } kind = Pending;
  wire::Message message;
  std::string detail;  // Closed: the socket error; Invalid: the parser's reason
};

// Reads one message from `socket`, then calls done (on the socket's executor).
// The socket must outlive the operation or be closed (which completes it).
void asyncReadMessage(Tcp::socket& socket, const wire::Limits& limits,
                      std::function<void(const ReadOutcome&)> done);

}  // namespace sam
