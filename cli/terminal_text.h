// Untrusted text (a torrent's name and paths, a tracker's or coordinator's error message)
// made safe to print on a terminal: a control character in it could otherwise move the
// cursor, rewrite the screen or set the window title.
#ifndef SWARM_CLI_TERMINAL_TEXT_H_
#define SWARM_CLI_TERMINAL_TEXT_H_

#include <string>
#include <string_view>

namespace swarm::cli {

// `s` with every C0 control byte, DEL and UTF-8-encoded C1 control (U+0080..U+009F) shown as
// '?'. Other bytes, valid UTF-8 or not, pass unchanged.
std::string TerminalSafe(std::string_view s);

}  // namespace swarm::cli

#endif  // SWARM_CLI_TERMINAL_TEXT_H_
