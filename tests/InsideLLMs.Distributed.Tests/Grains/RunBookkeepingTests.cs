using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Tests.Grains;

/// <summary>The run grain's arithmetic without a grain: step metrics from stage reports, snapshots and history.</summary>
public sealed class RunBookkeepingTests
{
    private static readonly TrainingRunSpec Spec = new() { Stages = 2, Replicas = 2, MicroBatches = 2, BatchSize = 4, Context = 16, Steps = 100, EvalInterval = 25 };

    [Fact]
    public void Metrics_SumBytesAndMeanTimesOverStagesAndReplicas()
    {
        StageStepReport Report(int stage, int replica, double compute, int peak) => new(
            stage, replica, "silo", LossSum: stage == 1 ? 3.0 : 0, compute, BubbleSeconds: 0.1, ActivationBytesSent: 100,
            GradientBytesSent: 10, peak, [Span(stage, replica, TraceOps.Forward, 0, 10), Span(stage, replica, TraceOps.Backward, 20, 30)],
            MessagingSeconds: 0.2);
        StageReduceReport Reduce(int stage, int replica) => new(stage, replica, 1000, stage == 0 ? 50 : 50, 4000, 1.0, 0.4, []);
        StageUpdateReport Update(int stage, int replica, long end) => new(stage, replica, 0.01, 4.0, Span(stage, replica, TraceOps.Optimizer, 0, end));
        StageStepReport[] reports = [Report(0, 0, 1.0, 2), Report(1, 0, 2.0, 1), Report(0, 1, 3.0, 3), Report(1, 1, 4.0, 1)];
        StageReduceReport[] reduces = [Reduce(0, 0), Reduce(1, 0), Reduce(0, 1), Reduce(1, 1)];
        StageUpdateReport[] updates = [Update(0, 0, 2000), Update(1, 0, 4000)];
        var decision = new StepDecision(1.5, 2.0, 0.5, 1e-3);
        var at = DateTimeOffset.UnixEpoch;

        var metrics = StepAccounting.Metrics(Spec, step: 9, decision, validation: 1.7, seconds: 0.5, reports, reduces, updates, at);

        Assert.Equal(10, metrics.Step); // 1-based: steps completed
        Assert.Equal((1.5, 1.7, 1e-3, 2.0), (metrics.Loss, metrics.ValidationLoss!.Value, metrics.LearningRate, metrics.GradientNorm));
        Assert.Equal(4 * 2 * 2 * 16 / 0.5, metrics.TokensPerSecond);
        Assert.Equal(2.5, metrics.ComputeSeconds);
        Assert.Equal(0.2 + 0.4, metrics.MessagingSeconds, 12);
        Assert.Equal(0.003, metrics.OptimizerSeconds, 12);
        Assert.Equal((400L, 40L, 4000L, 200L), (metrics.ActivationBytes, metrics.GradientBytes, metrics.AllReduceBytes, metrics.TiedGradientBytes));
        Assert.Equal([3, 1], metrics.PeakStashedActivations);
        Assert.IsType<int[]>(metrics.PeakStashedActivations); // Redis storage reads arrays back, not the compiler's hidden list types
        Assert.IsType<double[]>(metrics.StageBubbleFractions);
        Assert.Equal(2, metrics.StageBubbleFractions.Count);
        Assert.Equal(at, metrics.CompletedAt);
        Assert.Equal(10, StepAccounting.Spans(reports, reduces, updates).Length);
    }

    [Fact]
    public void Metrics_LayerNormsAndUpdateSize_AreReplicaZerosStagesInStageOrder()
    {
        StageStepReport Report(int stage, int replica) => new(stage, replica, "silo", 1.0, 0.1, 0, 0, 0, 1, [], 0);
        StageReduceReport Reduce(int stage, int replica, params LayerGradientNorm[] layers) => new(stage, replica, 0, 0, 0, 0, 0, [], layers);
        StageUpdateReport Update(int stage, int replica, double change, double parameters) =>
            new(stage, replica, change, parameters, Span(stage, replica, TraceOps.Optimizer, 0, 10));
        LayerGradientNorm Layer(string name, double norm) => new(name, norm);
        // Replica 1 reports other numbers: only replica 0's are read (after the all-reduce a correct run's agree).
        StageReduceReport[] reduces = [
            Reduce(1, 0, Layer("h.1", 3), Layer("ln_f", 0.5)), Reduce(0, 0, Layer("embedding", 2), Layer("h.0", 1)),
            Reduce(0, 1, Layer("embedding", 99), Layer("h.0", 99)), Reduce(1, 1, Layer("h.1", 99), Layer("ln_f", 99))];
        StageUpdateReport[] updates = [Update(0, 0, 0.09, 9), Update(1, 0, 0.16, 16), Update(0, 1, 1, 1), Update(1, 1, 1, 1)];

        var metrics = StepAccounting.Metrics(
            Spec, 0, default, null, 1, [Report(0, 0), Report(1, 0), Report(0, 1), Report(1, 1)], reduces, updates, DateTimeOffset.UnixEpoch);

        Assert.Equal(["embedding", "h.0", "h.1", "ln_f"], metrics.LayerGradientNorms!.Select(l => l.Layer));
        Assert.Equal([2.0, 1, 3, 0.5], metrics.LayerGradientNorms!.Select(l => l.Norm));
        Assert.IsType<LayerGradientNorm[]>(metrics.LayerGradientNorms); // Redis storage reads arrays back
        Assert.Equal(0.5, metrics.UpdateNorm!.Value, 12);
        Assert.Equal(5.0, metrics.ParameterNorm!.Value, 12);
    }

    [Fact]
    public void Metrics_FromAStageThatDidNotMeasureLayers_HaveNoLayerNorms()
    {
        StageReduceReport[] reduces = [new(0, 0, 0, 0, 0, 1, 0, [], [new LayerGradientNorm("embedding", 1)]), new(1, 0, 0, 0, 0, 1, 0, [])];

        Assert.Null(StepAccounting.LayerGradientNorms(reduces));
    }

    [Fact]
    public void PredictedBubbles_WithBackwardTwiceForward_AreTheTextbookFraction()
    {
        var spec = Spec with { Schedule = "1f1b", MicroBatches = 4 };
        TraceEvent Event(int stage, string op, long start, long end) => new("g", "s", stage, 0, 0, op, 0, start, end);

        var predicted = StepAccounting.PredictedBubbles(spec, [
            Event(0, TraceOps.Forward, 0, 10), Event(0, TraceOps.Backward, 10, 30), Event(1, TraceOps.Forward, 0, 10), Event(1, TraceOps.Backward, 10, 30)]);

        Assert.Equal(2, predicted.Length);
        Assert.All(predicted, bubble => Assert.Equal((2 - 1.0) / (4 + 2 - 1), bubble, 9));
    }

    [Fact]
    public void PredictedBubbles_WithASlowerLastStage_GiveTheFasterStageTheLargerBubble()
    {
        var spec = Spec with { Schedule = "1f1b", MicroBatches = 4 };
        TraceEvent Event(int stage, string op, long duration) => new("g", "s", stage, 0, 0, op, 0, 0, duration);

        var predicted = StepAccounting.PredictedBubbles(spec, [
            Event(0, TraceOps.Forward, 10), Event(0, TraceOps.Backward, 20), Event(1, TraceOps.Forward, 15), Event(1, TraceOps.Backward, 30)]);

        Assert.True(predicted[0] > predicted[1], $"stage bubbles {predicted[0]} / {predicted[1]}");
    }

    [Fact]
    public void StageStepTally_AddsUpAStagesStep()
    {
        var tally = new StageStepTally();
        tally.Computed(Span(1, 0, TraceOps.Forward, 0, 1_500_000));
        tally.Waited(bubbleSeconds: 0.25, transitSeconds: 0.5);
        tally.Computed(Span(1, 0, TraceOps.Backward, 2_000_000, 5_000_000));
        tally.Stashed(2);
        tally.Stashed(1);
        tally.Loss(1.25, 1);
        tally.Loss(0.75, 1);
        tally.SentActivation(100);
        tally.SentGradient(40);
        tally.SentGradient(40);
        tally.Drained(0.125);

        var report = tally.Report(stage: 1, replica: 0, silo: "silo-a");

        Assert.Equal((1, 0, "silo-a"), (report.Stage, report.Replica, report.Silo));
        Assert.Equal((2.0, 4.5, 0.25, 0.625), (report.LossSum, report.ComputeSeconds, report.BubbleSeconds, report.MessagingSeconds));
        Assert.Equal(2.0, report.LossWeight);
        Assert.Equal((100L, 80L, 2), (report.ActivationBytesSent, report.GradientBytesSent, report.PeakStashedActivations));
        Assert.Equal([TraceOps.Forward, TraceOps.Backward], report.Trace.Select(t => t.Op));
    }

    [Fact]
    public void Metrics_WithoutEveryReport_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => StepAccounting.Metrics(Spec, 0, default, null, 1, [], [], [], DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public void Snapshots_AreDueAtTheStartEveryEvaluationAndAtTheEnd()
    {
        var due = Enumerable.Range(0, 101).Where(step => SnapshotPolicy.Due(Spec, step)).ToArray();

        Assert.Equal([0, 25, 50, 75, 100], due);
        Assert.Equal([0L, 7], new long[] { 0, 3, 7 }.Where(step => SnapshotPolicy.Due(Spec with { Steps = 7, EvalInterval = 0 }, step)));
    }

    [Fact]
    public void Keep_PastTheCapacity_ThinsTheMiddleAndKeepsTheFirstAndTheLatest()
    {
        var kept = new List<EmbeddingView>();
        for (var step = 0; step <= 100; step += 2)
        {
            kept = SnapshotPolicy.Keep(kept, new EmbeddingView([], 0.5, null, step), capacity: 10);
            Assert.InRange(kept.Count, 1, 10);
        }

        Assert.Equal(0, kept[0].Step);
        Assert.Equal(100, kept[^1].Step);
        Assert.Equal(kept.Select(v => v.Step).Order(), kept.Select(v => v.Step));
    }

    [Fact]
    public void History_DropsTheOldestPastItsCapacity_AndARollBackForgetsWhatRunsAgain()
    {
        var history = new List<StepMetrics>();
        var snapshots = new List<EmbeddingView> { new([], 0, null, 0), new([], 0, null, 4) };
        for (var step = 1; step <= 8; step++)
        {
            RunHistory.Append(history, Metrics(step), capacity: 5);
        }

        Assert.Equal([4L, 5, 6, 7, 8], history.Select(m => m.Step));
        RunHistory.RollBack(history, snapshots, step: 5);
        Assert.Equal([4L, 5], history.Select(m => m.Step));
        Assert.Equal([0L, 4], snapshots.Select(s => s.Step));
    }

    private static StepMetrics Metrics(long step) => new(
        step, 1, null, 1e-3, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, [], DateTimeOffset.UnixEpoch, []);

    private static TraceSpan Span(int stage, int replica, string op, long start, long end) =>
        new($"run/{replica}/{stage}", "silo", stage, replica, op == TraceOps.Optimizer ? TraceEvent.NoMicroBatch : 0, op, 9, start, end);
}
