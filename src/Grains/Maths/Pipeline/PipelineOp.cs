namespace InsideLLMs.Distributed.Maths.Pipeline;

public enum PipelineOpKind
{
    Forward,
    Backward,
}

/// <summary>One pass of one micro-batch through one stage: the unit a stage grain executes and traces.</summary>
public readonly record struct PipelineOp(PipelineOpKind Kind, int MicroBatch)
{
    public static PipelineOp Forward(int microBatch) => new(PipelineOpKind.Forward, microBatch);

    public static PipelineOp Backward(int microBatch) => new(PipelineOpKind.Backward, microBatch);

    /// <summary>F3 or B3, as the pipeline papers draw them.</summary>
    public override string ToString() => $"{(Kind == PipelineOpKind.Forward ? 'F' : 'B')}{MicroBatch}";
}
