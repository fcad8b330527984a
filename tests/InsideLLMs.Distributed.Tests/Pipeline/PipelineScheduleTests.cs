using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class PipelineScheduleTests
{
    /// <summary>Both kinds, P = 1..4, M = 1..8: 64 schedules, including M &lt; P and M = 1.</summary>
    public static TheoryData<PipelineScheduleKind, int, int> Shapes()
    {
        var data = new TheoryData<PipelineScheduleKind, int, int>();
        foreach (var kind in new[] { PipelineScheduleKind.GPipe, PipelineScheduleKind.OneFOneB })
        {
            for (var stages = 1; stages <= 4; stages++)
            {
                for (var microBatches = 1; microBatches <= 8; microBatches++)
                {
                    data.Add(kind, stages, microBatches);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Create_AnyShape_RunsEveryForwardAndBackwardOncePerStageWithForwardFirst(PipelineScheduleKind kind, int stages, int microBatches)
    {
        var schedule = PipelineSchedule.Create(kind, stages, microBatches);

        Assert.Equal(stages, schedule.StageOps.Count);
        for (var stage = 0; stage < stages; stage++)
        {
            var ops = schedule.OpsOf(stage);
            Assert.Equal(2 * microBatches, ops.Count);
            for (var m = 0; m < microBatches; m++)
            {
                Assert.Single(ops, op => op == PipelineOp.Forward(m));
                Assert.Single(ops, op => op == PipelineOp.Backward(m));
                Assert.True(ops.ToList().IndexOf(PipelineOp.Forward(m)) < ops.ToList().IndexOf(PipelineOp.Backward(m)), $"stage {stage}: F{m} after B{m}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void PeakStashedActivations_AnyShape_IsMForGPipeAndMinOfDepthLeftAndMFor1F1B(PipelineScheduleKind kind, int stages, int microBatches)
    {
        var schedule = PipelineSchedule.Create(kind, stages, microBatches);

        for (var stage = 0; stage < stages; stage++)
        {
            var expected = kind == PipelineScheduleKind.GPipe ? microBatches : Math.Min(stages - stage, microBatches);
            Assert.Equal(expected, schedule.PeakStashedActivations(stage));
        }
    }

    [Fact]
    public void Create_OneFOneBFourStagesSixMicroBatches_WarmsUpAlternatesAndDrains()
    {
        var schedule = PipelineSchedule.Create(PipelineScheduleKind.OneFOneB, 4, 6);

        Assert.Equal("F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5", Render(schedule.OpsOf(0)));
        Assert.Equal("F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 B4 B5", Render(schedule.OpsOf(1)));
        Assert.Equal("F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 B5", Render(schedule.OpsOf(2)));
        Assert.Equal("F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5", Render(schedule.OpsOf(3)));
    }

    [Fact]
    public void Create_OneFOneBWithFewerMicroBatchesThanStages_IsGPipeOnTheEarlyStages()
    {
        // P = 4, M = 2: stage 0 would warm up with 3 forwards but only has 2.
        var schedule = PipelineSchedule.Create(PipelineScheduleKind.OneFOneB, 4, 2);

        Assert.Equal("F0 F1 B0 B1", Render(schedule.OpsOf(0)));
        Assert.Equal("F0 F1 B0 B1", Render(schedule.OpsOf(1)));
        Assert.Equal("F0 F1 B0 B1", Render(schedule.OpsOf(2)));
        Assert.Equal("F0 B0 F1 B1", Render(schedule.OpsOf(3)));
    }

    [Fact]
    public void Create_GPipe_RunsAllForwardsThenBackwardsInAscendingOrder()
    {
        var schedule = PipelineSchedule.Create(PipelineScheduleKind.GPipe, 2, 3);

        Assert.All(schedule.StageOps, ops => Assert.Equal("F0 F1 F2 B0 B1 B2", Render(ops)));
    }

    [Theory]
    [InlineData(1, 1, 0.0)]
    [InlineData(2, 4, 1.0 / 5)]
    [InlineData(4, 2, 3.0 / 5)]
    [InlineData(4, 8, 3.0 / 11)]
    public void PredictedBubbleFraction_IsStagesLessOneOverMicroBatchesPlusStagesLessOne(int stages, int microBatches, double expected)
    {
        Assert.Equal(expected, PipelineSchedule.Create(PipelineScheduleKind.OneFOneB, stages, microBatches).PredictedBubbleFraction, 12);
    }

    [Theory]
    [InlineData(0, 4, "stages", "at least one stage")]
    [InlineData(-1, 4, "stages", "at least one stage")]
    [InlineData(2, 0, "microBatches", "at least one micro-batch")]
    public void Create_WithoutStagesOrMicroBatches_ThrowsNamingTheArgument(int stages, int microBatches, string parameter, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => PipelineSchedule.Create(PipelineScheduleKind.GPipe, stages, microBatches));

        Assert.Equal(parameter, error.ParamName);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_UnknownKind_Throws()
    {
        Assert.Throws<ArgumentException>(() => PipelineSchedule.Create((PipelineScheduleKind)7, 2, 2));
    }

    internal static string Render(IEnumerable<PipelineOp> ops) => string.Join(' ', ops);
}
