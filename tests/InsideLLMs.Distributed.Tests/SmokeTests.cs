using TorchSharp;
namespace InsideLLMs.Distributed.Tests;
public sealed class SmokeTests
{
    [Fact]
    public void Torch_Loads() { using var t = torch.ones(2, 2); Assert.Equal(4f, t.sum().item<float>()); }
}
