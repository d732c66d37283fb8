// Boost.JSON's implementation, compiled exactly once for everything that links relaylink.
#include <boost/json/src.hpp>
