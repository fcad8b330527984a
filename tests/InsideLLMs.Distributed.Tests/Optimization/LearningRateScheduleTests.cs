using InsideLLMs.Distributed.Maths.Optimization;

namespace InsideLLMs.Distributed.Tests.Optimization;

public sealed class LearningRateScheduleTests
{
    private readonly LearningRateSchedule _schedule = new(MaxRate: 1e-3, MinRate: 1e-4, WarmupSteps: 100, DecaySteps: 2000);

    [Fact]
    public void At_DuringWarmup_RisesLinearlyFromAboveZero()
    {
        Assert.Equal(1e-3 / 101, _schedule.At(0), 12);
        Assert.Equal(1e-3 * 50 / 101, _schedule.At(49), 12);
        Assert.True(_schedule.At(99) < _schedule.At(100));
    }

    [Fact]
    public void At_AfterWarmup_FollowsTheCosineToTheFloor()
    {
        Assert.Equal(1e-3, _schedule.At(100), 12);
        Assert.Equal(0.55e-3, _schedule.At(1050), 12); // halfway: the mean of max and min
        Assert.Equal(1e-4, _schedule.At(2000), 12);
        Assert.Equal(1e-4, _schedule.At(5000), 12);
    }
}
