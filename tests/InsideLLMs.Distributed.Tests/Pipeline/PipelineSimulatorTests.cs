using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class PipelineSimulatorTests
{
    // Backward costs twice the forward: it computes the gradients of both the input and the weights.
    private const double ForwardCost = 1.0;
    private const double BackwardCost = 2.0;

    public static TheoryData<PipelineScheduleKind, int, int> Shapes() => PipelineScheduleTests.Shapes();

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Run_AnyShape_RunsEveryPassOnceRespectingDependenciesAndOneAtATime(PipelineScheduleKind kind, int stages, int microBatches)
    {
        var simulation = PipelineSimulator.Run(PipelineSchedule.Create(kind, stages, microBatches), ForwardCost, BackwardCost);

        Assert.Equal(2 * stages * microBatches, simulation.Ops.Count);
        var end = simulation.Ops.ToDictionary(op => (op.Stage, op.Op), op => op.End);
        foreach (var op in simulation.Ops)
        {
            var m = op.Op.MicroBatch;
            if (op.Op.Kind == PipelineOpKind.Forward && op.Stage > 0)
            {
                Assert.True(op.Start >= end[(op.Stage - 1, PipelineOp.Forward(m))], $"F{m} on stage {op.Stage} before its input");
            }

            if (op.Op.Kind == PipelineOpKind.Backward)
            {
                Assert.True(op.Start >= end[(op.Stage, PipelineOp.Forward(m))], $"B{m} on stage {op.Stage} before its own forward");
                if (op.Stage < stages - 1)
                {
                    Assert.True(op.Start >= end[(op.Stage + 1, PipelineOp.Backward(m))], $"B{m} on stage {op.Stage} before its gradient");
                }
            }
        }

        foreach (var stageOps in simulation.Ops.GroupBy(op => op.Stage))
        {
            var ordered = stageOps.OrderBy(op => op.Start).ToList();
            Assert.Equal(PipelineScheduleTests.Render(PipelineSchedule.Create(kind, stages, microBatches).OpsOf(stageOps.Key)),
                PipelineScheduleTests.Render(ordered.Select(op => op.Op)));
            for (var i = 1; i < ordered.Count; i++)
            {
                Assert.True(ordered[i].Start >= ordered[i - 1].End, $"stage {stageOps.Key} overlaps {ordered[i - 1].Op} and {ordered[i].Op}");
            }
        }
    }

    /// <summary>
    /// Every stage works M (f + b) = 3M and the step lasts (M + P - 1)(f + b): the last stage's first backward starts
    /// after P - 1 + M forward slots (GPipe) and stage 0's last backward ends P - 1 backward slots after the last
    /// stage's; 1F1B only reorders work inside that window. So every stage idles (P - 1)(f + b), and the simulated
    /// bubble equals the textbook (P - 1) / (M + P - 1) exactly, for both kinds, also when M &lt; P.
    /// </summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Run_BackwardTwiceForward_EveryStageBubbleEqualsTheTextbookFraction(PipelineScheduleKind kind, int stages, int microBatches)
    {
        var schedule = PipelineSchedule.Create(kind, stages, microBatches);

        var simulation = PipelineSimulator.Run(schedule, ForwardCost, BackwardCost);

        Assert.Equal((microBatches + stages - 1) * (ForwardCost + BackwardCost), simulation.Makespan, 1e-9);
        Assert.All(simulation.StageBubbleFractions, bubble => Assert.Equal(schedule.PredictedBubbleFraction, bubble, 9));
    }

    [Fact]
    public void Run_OneFOneBTwoStagesTwoMicroBatches_GivesTheHandComputedTimeline()
    {
        // Stage 1: F0 [1,2] B0 [2,4] F1 [4,5] (its input was ready at 2, the stage at 4) B1 [5,7].
        // Stage 0: F0 [0,1] F1 [1,2], then B0 waits for stage 1's B0 until 4: [4,6]; B1 waits until 7: [7,9].
        var simulation = PipelineSimulator.Run(PipelineSchedule.Create(PipelineScheduleKind.OneFOneB, 2, 2), ForwardCost, BackwardCost);

        string Timeline(int stage) => string.Join(' ', simulation.Ops.Where(op => op.Stage == stage).Select(op => $"{op.Op}[{op.Start},{op.End}]"));
        Assert.Equal("F0[0,1] F1[1,2] B0[4,6] B1[7,9]", Timeline(0));
        Assert.Equal("F0[1,2] B0[2,4] F1[4,5] B1[5,7]", Timeline(1));
        Assert.Equal(9.0, simulation.Makespan);
        Assert.Equal([1.0 / 3, 1.0 / 3], simulation.StageBubbleFractions);
    }

    [Fact]
    public void Run_CostsPerStage_GiveTheHandComputedTimeline()
    {
        // One micro-batch, stage 1 twice as slow: F0 [0,1], F1 [1,3], B1 [3,7], B0 [7,9].
        var simulation = PipelineSimulator.Run(PipelineSchedule.Create(PipelineScheduleKind.OneFOneB, 2, 1).StageOps, [1.0, 2.0], [2.0, 4.0]);

        Assert.Equal(9, simulation.Makespan);
        Assert.Equal([6.0 / 9, 3.0 / 9], simulation.StageBubbleFractions);
        Assert.Throws<ArgumentException>(() => PipelineSimulator.Run(PipelineSchedule.Create(PipelineScheduleKind.OneFOneB, 2, 1).StageOps, [1.0], [1.0]));
    }

    [Fact]
    public void Run_OrdersThatWaitOnEachOther_ThrowsNamingEachStuckStage()
    {
        // Stage 0 wants B0 (from stage 1) before F1; stage 1 wants F1 (from stage 0) before anything else.
        PipelineOp[][] stageOps =
        [
            [PipelineOp.Forward(0), PipelineOp.Backward(0), PipelineOp.Forward(1), PipelineOp.Backward(1)],
            [PipelineOp.Forward(1), PipelineOp.Forward(0), PipelineOp.Backward(1), PipelineOp.Backward(0)],
        ];

        var error = Assert.Throws<InvalidOperationException>(() => PipelineSimulator.Run(stageOps, ForwardCost, BackwardCost));

        Assert.Equal("The pipeline schedule deadlocks after 1 of 8 passes: stage 0 waits at B0 for B0 on stage 1; stage 1 waits at F1 for F1 on stage 0.", error.Message);
    }

    [Fact]
    public void Run_BackwardBeforeItsOwnForward_ThrowsAsADeadlock()
    {
        PipelineOp[][] stageOps = [[PipelineOp.Backward(0), PipelineOp.Forward(0)]];

        var error = Assert.Throws<InvalidOperationException>(() => PipelineSimulator.Run(stageOps, ForwardCost, BackwardCost));

        Assert.Contains("stage 0 waits at B0 for its own F0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_AStageRunningAPassTwice_Throws()
    {
        PipelineOp[][] stageOps =
        [
            [PipelineOp.Forward(0), PipelineOp.Backward(0), PipelineOp.Forward(1), PipelineOp.Backward(1)],
            [PipelineOp.Forward(0), PipelineOp.Forward(0), PipelineOp.Backward(0), PipelineOp.Backward(1)],
        ];

        var error = Assert.Throws<ArgumentException>(() => PipelineSimulator.Run(stageOps, ForwardCost, BackwardCost));

        Assert.Contains("Stage 1 runs F0 more than once", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Run_NonPositiveCost_Throws(double cost)
    {
        var schedule = PipelineSchedule.Create(PipelineScheduleKind.GPipe, 2, 2);

        Assert.Throws<ArgumentException>(() => PipelineSimulator.Run(schedule, cost, BackwardCost));
        Assert.Throws<ArgumentException>(() => PipelineSimulator.Run(schedule, ForwardCost, cost));
    }
}
