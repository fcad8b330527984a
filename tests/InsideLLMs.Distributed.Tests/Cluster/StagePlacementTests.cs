using System.Net;
using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Tests.Cluster;

public sealed class StagePlacementTests
{
    [Theory]
    [InlineData("run/0/0-of-2", 0)]
    [InlineData("run/0/1-of-2", 1)]
    [InlineData("run/1/0-of-2", 2)]
    [InlineData("run/1/1-of-2", 3)]
    [InlineData("a/b/run/2/3-of-4", 11)]
    [InlineData("default", 0)]
    [InlineData("run/x/1-of-2", 0)]
    [InlineData("run/1/1", 0)]
    [InlineData("run/1/2-of-2", 0)]
    public void SlotOf_StageKey_NumbersTheStagesReplicaByReplica(string key, int expected) =>
        Assert.Equal(expected, StagePlacementDirector.SlotOf(key));

    [Theory]
    [InlineData(2, 2, 3)]
    [InlineData(2, 2, 4)]
    [InlineData(4, 1, 3)]
    [InlineData(2, 3, 5)]
    public void EverySilo_HoldsAStage_WhenThereAreAtLeastAsManyStagesAsSilos(int stages, int replicas, int silos)
    {
        var addresses = Enumerable.Range(0, silos).Select(i => SiloAddress.New(new IPEndPoint(IPAddress.Parse($"10.0.0.{i + 2}"), 11111), 1)).ToArray();
        var keys = from r in Enumerable.Range(0, replicas) from s in Enumerable.Range(0, stages) select RunLayout.StageKey("run", r, s, stages);
        var held = keys.Select(k => StagePlacementDirector.Choose(addresses, k)).GroupBy(a => a).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(silos, held.Count);
        Assert.InRange(held.Values.Max() - held.Values.Min(), 0, 1);
    }

    [Fact]
    public void NeighbouringStages_AndTheSameStageOfTwoReplicas_LandOnDifferentSilos_OnThreeSilos()
    {
        var addresses = Enumerable.Range(0, 3).Select(i => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111 + i), 1)).ToArray();
        SiloAddress At(int r, int s) => StagePlacementDirector.Choose(addresses, RunLayout.StageKey("run", r, s, 2));
        Assert.NotEqual(At(0, 0), At(0, 1));
        Assert.NotEqual(At(1, 0), At(1, 1));
        Assert.NotEqual(At(0, 0), At(1, 0));
        Assert.NotEqual(At(0, 1), At(1, 1));
    }
}
