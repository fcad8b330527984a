using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class BubbleAnalysisTests
{
    [Fact]
    public void PerStage_HandMadeTrace_GivesTheHandComputedIdleShareOfTheStepSpan()
    {
        // Step 3 spans 0..110 us (stage 1's all-reduce ends last). Stage 0 computes 20 + 40 = 60 us: 1 - 60/110 = 5/11.
        // Stage 1 computes [20,60] (a forward nested inside counts once) + optimizer 10 us = 50 us: 1 - 50/110 = 6/11.
        TraceEvent[] events =
        [
            Event(0, TraceOps.Forward, 3, 0, 20),
            Event(0, TraceOps.Send, 3, 20, 25),
            Event(0, TraceOps.Backward, 3, 60, 100),
            Event(1, TraceOps.Receive, 3, 15, 20),
            Event(1, TraceOps.Forward, 3, 20, 40),
            Event(1, TraceOps.Forward, 3, 30, 35),
            Event(1, TraceOps.Backward, 3, 40, 60),
            Event(1, TraceOps.Optimizer, 3, 60, 70),
            Event(1, TraceOps.AllReduce, 3, 100, 110),
            Event(0, TraceOps.Forward, 4, 200, 300),
        ];

        var bubbles = BubbleAnalysis.PerStage(events, step: 3);

        Assert.Equal([new StageBubble(0, 0, 60, 110), new StageBubble(1, 0, 50, 110)], bubbles);
        Assert.Equal(5.0 / 11, bubbles[0].BubbleFraction, 12);
        Assert.Equal(6.0 / 11, bubbles[1].BubbleFraction, 12);
        Assert.Empty(BubbleAnalysis.PerStage(events, step: 9));
    }

    [Theory]
    [InlineData(PipelineScheduleKind.GPipe, 4, 8)]
    [InlineData(PipelineScheduleKind.OneFOneB, 4, 8)]
    [InlineData(PipelineScheduleKind.OneFOneB, 3, 2)]
    [InlineData(PipelineScheduleKind.GPipe, 1, 1)]
    public void PerStage_SimulatorTimelineAsTrace_ReproducesTheSimulatedBubble(PipelineScheduleKind kind, int stages, int microBatches)
    {
        // 1 ms forward, 2 ms backward, on two replicas that run the same timeline.
        var simulation = PipelineSimulator.Run(PipelineSchedule.Create(kind, stages, microBatches), 1000, 2000);
        var events = Enumerable.Range(0, 2).SelectMany(replica => simulation.Ops.Select(op => new TraceEvent(
            $"stage/run/{replica}/{op.Stage}", "silo-1", op.Stage, replica, op.Op.MicroBatch,
            op.Op.Kind == PipelineOpKind.Forward ? TraceOps.Forward : TraceOps.Backward, 12, (long)op.Start, (long)op.End)));

        var bubbles = BubbleAnalysis.PerStage(events, step: 12);

        Assert.Equal(2 * stages, bubbles.Count);
        Assert.All(bubbles, bubble => Assert.Equal(simulation.StageBubbleFractions[bubble.Stage], bubble.BubbleFraction, 12));
    }

    private static TraceEvent Event(int stage, string op, long step, long start, long end) =>
        new($"stage/run/0/{stage}", "silo-1", stage, 0, 0, op, step, start, end);
}
