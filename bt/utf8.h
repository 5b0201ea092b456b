// UTF-8 validation, one sequence at a time: for text from the network (tracker warnings, names
// in torrents) that is shown to a user or written as JSON.
#ifndef SWARM_BT_UTF8_H_
#define SWARM_BT_UTF8_H_

#include <cstddef>
#include <string_view>

namespace swarm::bt {

// Length (1..4) of the well-formed UTF-8 sequence starting at s[i] (i < s.size()), or 0 when
// there is none there: a stray continuation byte, a truncated sequence, an overlong form, a
// surrogate or a code point above U+10FFFF.
size_t Utf8SequenceLength(std::string_view s, size_t i);

}  // namespace swarm::bt

#endif  // SWARM_BT_UTF8_H_
