namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// The ordered forward and backward passes each of P pipeline stages runs in one training step of M micro-batches.
/// Stage s receives activations from s - 1 and gradients from s + 1; the order here is only each stage's own,
/// the waiting on neighbours is what <see cref="PipelineSimulator"/> predicts and the stage grains measure.
/// </summary>
/// <remarks>
/// Backward passes run in ascending micro-batch order in both schedules (as torch.distributed.pipelining does).
/// Each backward adds its micro-batch's gradient into the accumulated <c>.grad</c>, so the same order makes GPipe
/// and 1F1B accumulate in the same floating-point order: the two schedules give bit-identical gradients, and both
/// match a reference trainer that accumulates micro-batches 0..M-1 in turn.
/// </remarks>
public sealed class PipelineSchedule
{
    private readonly PipelineOp[][] _stageOps;

    private PipelineSchedule(PipelineScheduleKind kind, int stages, int microBatches, PipelineOp[][] stageOps)
    {
        Kind = kind;
        Stages = stages;
        MicroBatches = microBatches;
        _stageOps = stageOps;
    }

    public PipelineScheduleKind Kind { get; }

    /// <summary>P, the pipeline depth.</summary>
    public int Stages { get; }

    /// <summary>M, micro-batches per replica per step.</summary>
    public int MicroBatches { get; }

    /// <summary>
    /// The idle share of a step predicted for equal stages: (P - 1) / (M + P - 1). The pipeline fills for P - 1
    /// forward slots and drains for P - 1 backward slots, against M slots of each kind of work. P = 4, M = 8: 3/11 = 27%.
    /// </summary>
    public double PredictedBubbleFraction => (double)(Stages - 1) / (MicroBatches + Stages - 1);

    /// <summary>Each stage's passes, index = stage.</summary>
    public IReadOnlyList<IReadOnlyList<PipelineOp>> StageOps => _stageOps;

    /// <exception cref="ArgumentException">P or M is below 1, or the kind is unknown.</exception>
    public static PipelineSchedule Create(PipelineScheduleKind kind, int stages, int microBatches)
    {
        if (stages < 1)
        {
            throw new ArgumentException($"A pipeline needs at least one stage; got {stages} stages.", nameof(stages));
        }

        if (microBatches < 1)
        {
            throw new ArgumentException($"A step needs at least one micro-batch per replica; got {microBatches}.", nameof(microBatches));
        }

        var stageOps = new PipelineOp[stages][];
        for (var stage = 0; stage < stages; stage++)
        {
            stageOps[stage] = kind switch
            {
                PipelineScheduleKind.GPipe => GPipeOps(microBatches),
                PipelineScheduleKind.OneFOneB => OneFOneBOps(stages, stage, microBatches),
                _ => throw new ArgumentException($"Unknown pipeline schedule {kind}.", nameof(kind)),
            };
        }

        return new PipelineSchedule(kind, stages, microBatches, stageOps);
    }

    public IReadOnlyList<PipelineOp> OpsOf(int stage)
    {
        CheckStage(stage);
        return _stageOps[stage];
    }

    /// <summary>
    /// Forwards stage s runs before its first backward in 1F1B: min(P - s - 1, M). The last stage starts its backward
    /// right after its first forward; stage 0 keeps P - 1 micro-batches in flight to fill the pipeline.
    /// </summary>
    public static int WarmUpForwards(int stages, int stage, int microBatches) => Math.Min(stages - stage - 1, microBatches);

    /// <summary>
    /// The most micro-batches whose forward is done and backward is not yet done on this stage, counted by walking
    /// its passes: the activations the stage must keep for backward. M for GPipe; min(P - s, M) for 1F1B, since
    /// after the warm-up each new forward is followed by a backward that frees one.
    /// </summary>
    public int PeakStashedActivations(int stage)
    {
        CheckStage(stage);
        int stashed = 0, peak = 0;
        foreach (var op in _stageOps[stage])
        {
            stashed += op.Kind == PipelineOpKind.Forward ? 1 : -1;
            peak = Math.Max(peak, stashed);
        }

        return peak;
    }

    private static PipelineOp[] GPipeOps(int microBatches) =>
    [
        .. Enumerable.Range(0, microBatches).Select(PipelineOp.Forward),
        .. Enumerable.Range(0, microBatches).Select(PipelineOp.Backward),
    ];

    private static PipelineOp[] OneFOneBOps(int stages, int stage, int microBatches)
    {
        // P = 4, M = 6, stage 1: warm-up F0 F1; steady F2 B0, F3 B1, F4 B2, F5 B3; drain B4 B5.
        var warmUp = WarmUpForwards(stages, stage, microBatches);
        var ops = new List<PipelineOp>(2 * microBatches);
        for (var m = 0; m < warmUp; m++)
        {
            ops.Add(PipelineOp.Forward(m));
        }

        for (var m = warmUp; m < microBatches; m++)
        {
            ops.Add(PipelineOp.Forward(m));
            ops.Add(PipelineOp.Backward(m - warmUp));
        }

        for (var m = microBatches - warmUp; m < microBatches; m++)
        {
            ops.Add(PipelineOp.Backward(m));
        }

        return [.. ops];
    }

    private void CheckStage(int stage)
    {
        if (stage < 0 || stage >= Stages)
        {
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"The pipeline has stages 0..{Stages - 1}.");
        }
    }
}
