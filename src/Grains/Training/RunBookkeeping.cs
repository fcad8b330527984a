using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>How one step's stage reports become the run's metrics and trace: plain arithmetic, tested without a cluster.</summary>
public static class StepAccounting
{
    /// <summary>Tokens trained per step: B rows x M micro-batches x R replicas x T positions.</summary>
    public static long Tokens(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return (long)spec.BatchSize * spec.MicroBatches * spec.Replicas * spec.Context;
    }

    /// <summary>
    /// The step's metrics. Times are means over stages and replicas (stages overlap, so they do not add up to the step
    /// time); bytes are totals; bubble fractions and stash peaks are per stage, in stage order. The per-layer gradient
    /// norms and the update's size are replica 0's: after the all-reduce every replica holds the same gradient bits and
    /// takes the same step. Stages hold disjoint layers (the tied matrix is counted on the first only), so replica 0's
    /// layers in stage order are the whole model's.
    /// </summary>
    /// <param name="step">0-based index of the step just taken.</param>
    public static StepMetrics Metrics(
        TrainingRunSpec spec,
        long step,
        StepDecision decision,
        double? validation,
        double seconds,
        IReadOnlyList<StageStepReport> reports,
        IReadOnlyList<StageReduceReport> reduces,
        IReadOnlyList<StageUpdateReport> updates,
        DateTimeOffset completedAt)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(reduces);
        ArgumentNullException.ThrowIfNull(updates);
        if (reports.Count == 0 || reduces.Count == 0 || updates.Count == 0)
        {
            throw new ArgumentException("A step's metrics need every stage's step, reduce and update reports.");
        }

        var replica0Updates = updates.Where(u => u.Replica == 0).ToArray();
        var pipelineEvents = reports.SelectMany(r => r.Trace).Select(TraceSpanConversion.ToEvent).ToArray();
        var bubbles = BubbleAnalysis.PerStage(pipelineEvents, step)
            .GroupBy(b => b.Stage).OrderBy(g => g.Key).Select(g => g.Average(b => b.BubbleFraction)).ToArray();
        return new StepMetrics(
            step + 1, decision.Loss, validation, decision.LearningRate, decision.GradientNorm, seconds, Tokens(spec) / seconds,
            ComputeSeconds: reports.Average(r => r.ComputeSeconds),
            MessagingSeconds: reports.Average(r => r.MessagingSeconds) + reduces.Average(r => r.Seconds),
            BubbleSeconds: reports.Average(r => r.BubbleSeconds),
            OptimizerSeconds: updates.Average(u => (u.Span.EndMicroseconds - u.Span.StartMicroseconds) / 1e6),
            ActivationBytes: reports.Sum(r => r.ActivationBytesSent),
            GradientBytes: reports.Sum(r => r.GradientBytesSent),
            AllReduceBytes: reduces.Sum(r => r.AllReduceBytesSent),
            TiedGradientBytes: reduces.Sum(r => r.TiedBytesSent),
            StageBubbleFractions: bubbles,
            CompletedAt: completedAt,
            // An array, not a collection expression: Redis storage writes the history as JSON with type names, and the
            // compiler's hidden <>z__ReadOnlyList type cannot be read back, so the run could not reactivate after a failover.
            PeakStashedActivations: reports.GroupBy(r => r.Stage).OrderBy(g => g.Key).Select(g => g.Max(r => r.PeakStashedActivations)).ToArray(),
            PredictedBubbleFractions: PredictedBubbles(spec, pipelineEvents),
            LayerGradientNorms: LayerGradientNorms(reduces),
            UpdateNorm: Math.Sqrt(replica0Updates.Sum(u => u.UpdateSumOfSquares)),
            ParameterNorm: Math.Sqrt(replica0Updates.Sum(u => u.ParameterSumOfSquares)));
    }

    /// <summary>Replica 0's per-layer norms in stage order; null when a stage did not report them.</summary>
    public static LayerGradientNorm[]? LayerGradientNorms(IReadOnlyList<StageReduceReport> reduces)
    {
        ArgumentNullException.ThrowIfNull(reduces);
        var replica0 = reduces.Where(r => r.Replica == 0).OrderBy(r => r.Stage).ToArray();
        return replica0.Any(r => r.LayerGradientNorms is null) ? null : [.. replica0.SelectMany(r => r.LayerGradientNorms!)];
    }

    /// <summary>
    /// The schedule simulated with the step's mean forward and backward time of each stage: the bubble each stage would
    /// have if messages took no time. Beside the measured bubble it shows what the messaging and the uneven stages cost.
    /// </summary>
    public static double[] PredictedBubbles(TrainingRunSpec spec, IReadOnlyList<TraceEvent> pipelineEvents)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(pipelineEvents);
        double[] MeanMicroseconds(string op) => [.. Enumerable.Range(0, spec.Stages).Select(stage => Math.Max(1, pipelineEvents
            .Where(e => e.Op == op && e.Stage == stage)
            .Select(e => (double)(e.EndMicroseconds - e.StartMicroseconds))
            .DefaultIfEmpty(1)
            .Average()))];
        var schedule = PipelineSchedule.Create(TrainingRunSpecs.Schedule(spec), spec.Stages, spec.MicroBatches);
        return [.. PipelineSimulator.Run(schedule.StageOps, MeanMicroseconds(TraceOps.Forward), MeanMicroseconds(TraceOps.Backward)).StageBubbleFractions];
    }

    /// <summary>Every span of the step: the schedule's forwards, backwards and sends, the reductions, the updates.</summary>
    public static TraceSpan[] Spans(IEnumerable<StageStepReport> reports, IEnumerable<StageReduceReport> reduces, IEnumerable<StageUpdateReport> updates) =>
        [.. reports.SelectMany(r => r.Trace), .. reduces.SelectMany(r => r.Trace), .. updates.Select(u => u.Span)];
}

/// <summary>Which embedding snapshots a run takes and keeps, so the page can replay the clusters forming.</summary>
public static class SnapshotPolicy
{
    /// <summary>A run keeps at most this many; 50 x 1,024 points is about the size of its metrics history.</summary>
    public const int Capacity = 50;

    /// <summary>Before step 0, every evaluation interval, and at the end.</summary>
    public static bool Due(TrainingRunSpec spec, long step)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return step == 0 || step == spec.Steps || (spec.EvalInterval > 0 && step % spec.EvalInterval == 0);
    }

    /// <summary>
    /// Adds a snapshot. Past the capacity every other snapshot between the first and the latest goes: thinning rather than
    /// sliding keeps step 0, so the page can still show the clusters forming from the start.
    /// </summary>
    public static List<EmbeddingView> Keep(List<EmbeddingView> kept, EmbeddingView snapshot, int capacity = Capacity)
    {
        ArgumentNullException.ThrowIfNull(kept);
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        kept.Add(snapshot);
        if (kept.Count <= capacity)
        {
            return kept;
        }

        var last = kept.Count - 1;
        return [.. kept.Where((_, i) => i % 2 == 0 || i == last)];
    }
}

/// <summary>The run's metrics history: a bounded list, oldest dropped first.</summary>
public static class RunHistory
{
    /// <summary>10,000 steps of metrics is a few megabytes of grain state.</summary>
    public const int Capacity = 10_000;

    public static void Append(List<StepMetrics> history, StepMetrics metrics, int capacity = Capacity)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(metrics);
        history.Add(metrics);
        if (history.Count > capacity)
        {
            history.RemoveRange(0, history.Count - capacity);
        }
    }

    /// <summary>A rollback to <paramref name="step"/>: what came after it runs again and is recorded again.</summary>
    public static void RollBack(List<StepMetrics> history, List<EmbeddingView> snapshots, long step)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(snapshots);
        history.RemoveAll(m => m.Step > step);
        snapshots.RemoveAll(v => v.Step > step);
    }
}
