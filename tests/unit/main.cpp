// The one file of herald-test that instantiates CAF's unit test engine.
#include <caf/test/unit_test_impl.hpp>
