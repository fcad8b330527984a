using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Training;
using Orleans.Runtime.Placement;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>
/// <see cref="IPipelineStageGrain.MoveToAsync"/> puts a stage on the silo it is given, and the very next call reaches it
/// there, though the silos that routed earlier calls hold the old address. With a plain deactivation instead, a silo that
/// had the old address cached re-created the stage in place on the next call, even one carrying the placement hint.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StageMoveTests(ClusterFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task MoveTo_PutsTheStageOnTheTargetSilo_AndTheNextCallFindsItThere()
    {
        var silos = fixture.Cluster.Silos.Select(s => s.SiloAddress).ToArray();
        Assert.Equal(2, silos.Length);
        var stage = fixture.Grains.GetGrain<IPipelineStageGrain>(RunLayout.StageKey("moving", 0, 0, 2));
        var current = await stage.GetSiloAsync();
        Assert.Contains(current, silos.Select(s => s.ToString()));

        for (var move = 1; move <= 4; move++)
        {
            var target = silos.First(s => s.ToString() != current);
            var left = fixture.Cluster.WaitForDeactivationAsync(stage.GetGrainId());
            Assert.Equal(current, await stage.MoveToAsync(target));
            // The next call carries the target as the placement hint, as the run's calls after a move do.
            RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
            string now;
            try
            {
                now = await stage.GetSiloAsync();
            }
            finally
            {
                RequestContext.Remove(IPlacementDirector.PlacementHintKey);
            }

            output.WriteLine($"move {move}: {current} -> {target}: the next call found the stage on {now}");
            Assert.Equal(target.ToString(), now);
            Assert.Equal(now, await stage.GetSiloAsync());
            current = now;

            // The next move starts once the old activation is gone, as a run's moves are seconds apart. Moved straight back
            // while the old activation still finished, the stage stayed put about half the time (the new activation found
            // the grain "active on another host"): the run's placement check moves such a stage again after a pause.
            await left.WaitAsync(TimeSpan.FromSeconds(30));
        }

        // Moving a stage to the silo it is on leaves it there.
        var here = silos.First(s => s.ToString() == current);
        Assert.Equal(current, await stage.MoveToAsync(here));
        Assert.Equal(current, await stage.GetSiloAsync());
    }
}
