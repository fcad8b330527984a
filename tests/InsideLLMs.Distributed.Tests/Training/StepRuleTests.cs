using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Tests.Training;

public sealed class StepRuleTests
{
    private static readonly TrainingOptions Options = new()
    {
        MicroBatches = 4, GradClip = 1.0, LearningRate = 1e-3, MinLearningRate = 1e-4, WarmupSteps = 10, Steps = 100,
    };

    [Fact]
    public void Decide_MeansTheMicroBatchLosses_AndClipsByTheGlobalNorm()
    {
        var decision = new StepRule(Options).Decide(step: 20, gradientSumOfSquares: 16, microBatchLossSum: 10);

        Assert.Equal(2.5, decision.Loss);
        Assert.Equal(4, decision.GradientNorm);
        Assert.Equal(1.0 / (4 + 1e-6), decision.ClipCoefficient, 12);
        Assert.Equal(Options.Schedule.At(20), decision.LearningRate);
    }

    [Fact]
    public void Decide_UnderTheLimit_LeavesTheGradientAlone()
    {
        Assert.Equal(1.0, new StepRule(Options).Decide(0, gradientSumOfSquares: 0.25, microBatchLossSum: 1).ClipCoefficient);
        Assert.Equal(1.0, new StepRule(Options with { GradClip = 0 }).Decide(0, 1e6, 1).ClipCoefficient);
    }

    [Fact]
    public void BadOptions_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new StepRule(Options with { MicroBatches = 0 }));
    }

    [Fact]
    public void ValidationTally_AddsSumsAndCounts_BeforeDividing()
    {
        var tally = new ValidationTally().Add(3, 2).Add(1, 2);

        Assert.Equal(1.0, tally.Mean);
        Assert.True(double.IsNaN(new ValidationTally().Mean));
    }
}
