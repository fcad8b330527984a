namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>The order in which a pipeline stage runs the forward and backward passes of its micro-batches.</summary>
public enum PipelineScheduleKind
{
    /// <summary>All M forwards, then all M backwards (Huang et al., 2019): every stage stashes M activations.</summary>
    GPipe,

    /// <summary>
    /// One forward, one backward, with a flush at the end of the step (PipeDream-Flush, Narayanan et al., 2021):
    /// the same bubble as GPipe, but stage s stashes at most min(P - s, M) activations.
    /// </summary>
    OneFOneB,
}
