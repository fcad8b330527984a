using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Silo.Training;

namespace InsideLLMs.Distributed.Tests.Hosting;

public sealed class LiveTrainingFeedTests
{
    [Fact]
    public void Add_MoreStepsThanTheWindow_KeepsTheLatestInOrder()
    {
        var feed = new LiveTrainingFeed();
        for (var step = 1; step <= LiveTrainingFeed.StepsPerRun + 10; step++)
        {
            feed.Add(new TrainingStepCompleted("a", Metrics(step)));
        }

        var kept = feed.Latest("a");
        Assert.Equal(LiveTrainingFeed.StepsPerRun, kept.Count);
        Assert.Equal(11, kept[0].Step);
        Assert.Equal(LiveTrainingFeed.StepsPerRun + 10, kept[^1].Step);
        Assert.Empty(feed.Latest("b"));
    }

    [Fact]
    public void Add_ReplayAfterRecovery_ReplacesTheRedoneSteps()
    {
        var feed = new LiveTrainingFeed();
        foreach (var step in new[] { 1, 2, 3, 4, 3, 4, 5 })
        {
            feed.Add(new TrainingStepCompleted("a", Metrics(step)));
        }

        Assert.Equal([1L, 2, 3, 4, 5], feed.Latest("a").Select(m => m.Step));
    }

    private static StepMetrics Metrics(long step) =>
        new(step, 3.0, null, 1e-3, 1.0, 0.5, 1000, 0.3, 0.1, 0.05, 0.05, 10, 10, 0, 0, [0.1], DateTimeOffset.UnixEpoch, [1]);
}
