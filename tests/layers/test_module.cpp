// Module: hierarchical names, tying, train/eval, state load/save by name.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "common/error_of.h"

using namespace attend;

namespace {

// Two linears, the second tied to the first, inside a named block.
class Block : public Module {
 public:
  explicit Block(Generator* gen)
      : a_({.in = 3, .out = 2, .gen = gen}), b_({.in = 3, .out = 2, .bias = false}, a_.weight()),
        drop_({.p = 0.5f, .gen = gen}) {
    scale_ = register_parameter("scale", Tensor::ones({2}));
    register_module("a", a_);
    register_module("b", b_);
    register_module("drop", drop_);
  }
  const Dropout& drop() const { return drop_; }

 private:
  Tensor scale_;
  Linear a_, b_;
  Dropout drop_;
};

class Net : public Module {
 public:
  explicit Net(Generator* gen) : block_(gen) { register_module("block", block_); }
  const Block& block() const { return block_; }

 private:
  Block block_;
};

std::vector<std::string> names(const Module& m) {
  std::vector<std::string> out;
  for (auto& [name, t] : m.named_parameters()) out.push_back(name);
  return out;
}

}  // namespace

TEST(Module, NamesArePathsInRegistrationOrder) {
  Generator gen(1);
  Net net(&gen);
  EXPECT_EQ(names(net), (std::vector<std::string>{"block.scale", "block.a.weight", "block.a.bias"}));
}

TEST(Module, TiedTensorIsListedOnceUnderItsFirstName) {
  Generator gen(1);
  Net net(&gen);
  EXPECT_EQ(net.parameters().size(), 3u);
  EXPECT_EQ(net.num_parameters(), 2 + 6 + 2);
  EXPECT_TRUE(net.parameter("block.a.weight").shares_storage(net.parameter("block.a.weight")));
  EXPECT_EQ(net.state().count("block.b.weight"), 0u);
}

TEST(Module, ParametersRequireGrad) {
  Generator gen(1);
  Net net(&gen);
  for (const Tensor& p : net.parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Module, UnknownParameterNameListsSiblings) {
  Generator gen(1);
  Net net(&gen);
  std::string msg = error_of([&] { net.parameter("block.a.wieght"); });
  EXPECT_NE(msg.find("block.a.wieght"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block.a.weight"), std::string::npos) << msg;
}

TEST(Module, EvalAndTrainReachEveryChild) {
  Generator gen(1);
  Net net(&gen);
  EXPECT_TRUE(net.block().drop().is_training());
  net.eval();
  EXPECT_FALSE(net.block().drop().is_training());
  net.train();
  EXPECT_TRUE(net.block().drop().is_training());
}

TEST(Module, LoadStateCopiesIntoTheSameTensors) {
  Generator gen(1), gen2(2);
  Net a(&gen), b(&gen2);
  Tensor before = b.parameter("block.a.weight");
  b.load_state(a.state());
  EXPECT_EQ(b.parameter("block.a.weight").impl(), before.impl());
  for (auto& [name, t] : a.named_parameters()) EXPECT_EQ(b.parameter(name).to_vector(), t.to_vector()) << name;
}

TEST(Module, LoadStateNamesAMissingTensor) {
  Generator gen(1);
  Net net(&gen);
  auto state = net.state();
  state.erase("block.a.bias");
  std::string msg = error_of([&] { net.load_state(state, "x.safetensors"); });
  EXPECT_NE(msg.find("'block.a.bias' is missing from x.safetensors"), std::string::npos) << msg;
}

TEST(Module, LoadStateNamesAnUnexpectedTensor) {
  Generator gen(1);
  Net net(&gen);
  auto state = net.state();
  state["block.b.weight"] = Tensor::zeros({2, 3});
  std::string msg = error_of([&] { net.load_state(state); });
  EXPECT_NE(msg.find("unexpected tensor 'block.b.weight'"), std::string::npos) << msg;
}

TEST(Module, LoadStateNamesAWronglyShapedTensorWithBothShapes) {
  Generator gen(1);
  Net net(&gen);
  auto state = net.state();
  state["block.a.weight"] = Tensor::zeros({3, 2});
  Tensor bias_before = net.parameter("block.a.bias").clone();
  state["block.a.bias"] = Tensor::full({2}, 7.0f);
  std::string msg = error_of([&] { net.load_state(state); });
  EXPECT_NE(msg.find("'block.a.weight' has shape [3, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expects [2, 3]"), std::string::npos) << msg;
  // a failed load changes nothing
  EXPECT_EQ(net.parameter("block.a.bias").to_vector(), bias_before.to_vector());
}

TEST(Module, LoadStateRejectsAnotherDtype) {
  Generator gen(1);
  Net net(&gen);
  auto state = net.state();
  state["block.scale"] = Tensor::from_ids({1, 1}, {2});
  std::string msg = error_of([&] { net.load_state(state); });
  EXPECT_NE(msg.find("'block.scale' is i32"), std::string::npos) << msg;
}

TEST(Module, ZeroGradDropsGradients) {
  Generator gen(1);
  Net net(&gen);
  Tensor p = net.parameter("block.scale");
  sum(p * 2.0f).backward();
  EXPECT_TRUE(p.grad().defined());
  net.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}
