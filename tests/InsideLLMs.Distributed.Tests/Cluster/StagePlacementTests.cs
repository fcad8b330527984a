using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Tests.Cluster;

public sealed class StagePlacementTests
{
    [Theory]
    [InlineData("run/0/0", 0)]
    [InlineData("run/0/1", 1)]
    [InlineData("run/1/0", 1)]
    [InlineData("run/1/1", 2)]
    [InlineData("a/b/run/2/3", 5)]
    [InlineData("default", 0)]
    [InlineData("run/x/1", 0)]
    public void SlotOf_StageKey_IsReplicaPlusStage(string key, int expected) =>
        Assert.Equal(expected, StagePlacementDirector.SlotOf(key));
}
