// Pieces shared by the batch encoders of batch.cpp and batch_columnar.cpp; thread-safe.
#pragma once

#include <string>

#include "batch/batch.hpp"

namespace fogbridge {

// ,"layout":"columnar","series":[...] : the readings of b grouped by series.
void append_columnar_body(std::string& out, const batch_view& b);

}  // namespace fogbridge
