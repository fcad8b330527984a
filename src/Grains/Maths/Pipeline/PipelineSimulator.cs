using System.Globalization;

namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>One pass as the simulator ran it, in the simulator's time unit.</summary>
public readonly record struct SimulatedOp(int Stage, PipelineOp Op, double Start, double End);

/// <summary>The timeline of one simulated step.</summary>
public sealed class PipelineSimulation
{
    internal PipelineSimulation(int stages, int microBatches, IReadOnlyList<SimulatedOp> ops)
    {
        Stages = stages;
        MicroBatches = microBatches;
        Ops = ops;
        Makespan = ops.Max(op => op.End) - ops.Min(op => op.Start);
        var busy = new double[stages];
        foreach (var op in ops)
        {
            busy[op.Stage] += op.End - op.Start;
        }

        StageBubbleFractions = [.. busy.Select(time => (Makespan - time) / Makespan)];
    }

    public int Stages { get; }

    public int MicroBatches { get; }

    /// <summary>Every pass of every stage, ordered by start time, then stage.</summary>
    public IReadOnlyList<SimulatedOp> Ops { get; }

    /// <summary>First start to last end, across all stages.</summary>
    public double Makespan { get; }

    /// <summary>Per stage: the share of the makespan in which the stage ran nothing.</summary>
    public IReadOnlyList<double> StageBubbleFractions { get; }
}

/// <summary>
/// Runs per-stage pass lists on an ideal pipeline: every pass starts as soon as its stage is free and its inputs
/// exist, messages take no time. F(s, m) needs F(s - 1, m); B(s, m) needs F(s, m) and B(s + 1, m); a stage runs one
/// pass at a time, in its list's order. Because each stage's order is fixed, "as soon as possible" is a single
/// answer: an op's start is the latest of its stage's previous end and its inputs' ends.
/// </summary>
public static class PipelineSimulator
{
    /// <exception cref="ArgumentException">A cost is not positive and finite.</exception>
    public static PipelineSimulation Run(PipelineSchedule schedule, double forwardCost, double backwardCost)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return Run(schedule.StageOps, forwardCost, backwardCost);
    }

    /// <summary>Simulates any per-stage order, for example a hand-written one.</summary>
    /// <exception cref="ArgumentException">A stage's list is not every F(m) and B(m) of the same M exactly once, or a cost is not positive.</exception>
    /// <exception cref="InvalidOperationException">The orders deadlock: some stage waits for a pass that can never run.</exception>
    public static PipelineSimulation Run(IReadOnlyList<IReadOnlyList<PipelineOp>> stageOps, double forwardCost, double backwardCost)
    {
        ArgumentNullException.ThrowIfNull(stageOps);
        return Run(stageOps, [.. stageOps.Select(_ => forwardCost)], [.. stageOps.Select(_ => backwardCost)]);
    }

    /// <summary>
    /// Simulates with a cost per stage (a real pipeline's stages differ: the last one also runs the head and the loss),
    /// so the bubble it predicts for each stage can be set beside the one measured.
    /// </summary>
    /// <exception cref="ArgumentException">A stage's list is not every F(m) and B(m) of the same M exactly once, there is not one
    /// cost per stage, or a cost is not positive.</exception>
    /// <exception cref="InvalidOperationException">The orders deadlock: some stage waits for a pass that can never run.</exception>
    public static PipelineSimulation Run(
        IReadOnlyList<IReadOnlyList<PipelineOp>> stageOps, IReadOnlyList<double> forwardCosts, IReadOnlyList<double> backwardCosts)
    {
        ArgumentNullException.ThrowIfNull(stageOps);
        ArgumentNullException.ThrowIfNull(forwardCosts);
        ArgumentNullException.ThrowIfNull(backwardCosts);
        if (forwardCosts.Count != stageOps.Count || backwardCosts.Count != stageOps.Count)
        {
            throw new ArgumentException($"One forward and one backward cost per stage: {stageOps.Count} stages, {forwardCosts.Count} and {backwardCosts.Count} costs.");
        }

        foreach (var cost in forwardCosts)
        {
            CheckCost(cost, nameof(forwardCosts));
        }

        foreach (var cost in backwardCosts)
        {
            CheckCost(cost, nameof(backwardCosts));
        }

        var stages = stageOps.Count;
        var microBatches = CheckOps(stageOps);

        // NaN = not run yet; the simulator only ever reads ends of passes that have run.
        var forwardEnd = NewTimes(stages, microBatches);
        var backwardEnd = NewTimes(stages, microBatches);
        var next = new int[stages];
        var stageFree = new double[stages];
        var ran = new List<SimulatedOp>(2 * stages * microBatches);

        bool progressed;
        do
        {
            progressed = false;
            for (var stage = 0; stage < stages; stage++)
            {
                while (next[stage] < stageOps[stage].Count)
                {
                    var op = stageOps[stage][next[stage]];
                    var ready = ReadyTime(op, stage, stages, forwardEnd, backwardEnd);
                    if (double.IsNaN(ready))
                    {
                        break;
                    }

                    var start = Math.Max(stageFree[stage], ready);
                    var end = start + (op.Kind == PipelineOpKind.Forward ? forwardCosts[stage] : backwardCosts[stage]);
                    (op.Kind == PipelineOpKind.Forward ? forwardEnd : backwardEnd)[stage][op.MicroBatch] = end;
                    stageFree[stage] = end;
                    ran.Add(new SimulatedOp(stage, op, start, end));
                    next[stage]++;
                    progressed = true;
                }
            }
        }
        while (progressed);

        if (ran.Count < 2 * stages * microBatches)
        {
            var waits = Enumerable.Range(0, stages)
                .Where(stage => next[stage] < stageOps[stage].Count)
                .Select(stage => DescribeWait(stageOps[stage][next[stage]], stage, forwardEnd));
            throw new InvalidOperationException($"The pipeline schedule deadlocks after {ran.Count} of {2 * stages * microBatches} passes: {string.Join("; ", waits)}.");
        }

        return new PipelineSimulation(stages, microBatches, [.. ran.OrderBy(op => op.Start).ThenBy(op => op.Stage)]);
    }

    /// <summary>When the op's inputs exist, or NaN while one is missing.</summary>
    private static double ReadyTime(PipelineOp op, int stage, int stages, double[][] forwardEnd, double[][] backwardEnd)
    {
        var m = op.MicroBatch;
        if (op.Kind == PipelineOpKind.Forward)
        {
            return stage == 0 ? 0 : forwardEnd[stage - 1][m];
        }

        var ownForward = forwardEnd[stage][m];
        var gradient = stage == stages - 1 ? 0 : backwardEnd[stage + 1][m];
        return Math.Max(ownForward, gradient); // NaN if either is
    }

    private static string DescribeWait(PipelineOp op, int stage, double[][] forwardEnd)
    {
        var m = op.MicroBatch;
        string missing;
        if (op.Kind == PipelineOpKind.Forward)
        {
            missing = $"F{m} on stage {stage - 1}";
        }
        else if (double.IsNaN(forwardEnd[stage][m]))
        {
            missing = $"its own F{m}";
        }
        else
        {
            missing = $"B{m} on stage {stage + 1}";
        }

        return string.Create(CultureInfo.InvariantCulture, $"stage {stage} waits at {op} for {missing}");
    }

    private static int CheckOps(IReadOnlyList<IReadOnlyList<PipelineOp>> stageOps)
    {
        if (stageOps.Count < 1)
        {
            throw new ArgumentException("A pipeline needs at least one stage.", nameof(stageOps));
        }

        var microBatches = stageOps[0].Count / 2;
        if (microBatches < 1)
        {
            throw new ArgumentException("Stage 0 runs no passes; a step needs at least one micro-batch.", nameof(stageOps));
        }

        for (var stage = 0; stage < stageOps.Count; stage++)
        {
            var ops = stageOps[stage];
            var seen = new HashSet<PipelineOp>();
            foreach (var op in ops)
            {
                if (op.MicroBatch < 0 || op.MicroBatch >= microBatches || !seen.Add(op))
                {
                    throw new ArgumentException(
                        $"Stage {stage} runs {op} more than once or outside micro-batches 0..{microBatches - 1}; every stage runs each F(m) and B(m) exactly once.",
                        nameof(stageOps));
                }
            }

            if (seen.Count != 2 * microBatches)
            {
                throw new ArgumentException($"Stage {stage} runs {seen.Count} passes where stage 0 runs {2 * microBatches}.", nameof(stageOps));
            }
        }

        return microBatches;
    }

    private static double[][] NewTimes(int stages, int microBatches)
    {
        var times = new double[stages][];
        for (var stage = 0; stage < stages; stage++)
        {
            times[stage] = new double[microBatches];
            Array.Fill(times[stage], double.NaN);
        }

        return times;
    }

    private static void CheckCost(double cost, string name)
    {
        if (!double.IsFinite(cost) || cost <= 0)
        {
            throw new ArgumentException($"A pass must take a positive, finite time; got {cost}.", name);
        }
    }
}
