namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// The silo's thread budget for tensor maths. Compute runs on these dedicated threads, never on Orleans' scheduler
/// threads (a CPU-bound turn there stalls every other grain of the silo: a ping to a third grain waited about 1 s behind two computing grains, and under 15 ms with the work on these threads).
/// </summary>
public sealed class ComputeOptions
{
    public const string Section = "Compute";

    /// <summary>Worker threads: how many stage operations run at once on this silo.</summary>
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>libtorch (OpenMP) threads each worker uses. Workers x this should not exceed the cores.</summary>
    public int TorchThreadsPerWorker { get; set; } = 1;

    /// <summary>
    /// How long a pipeline stage waits for an activation, gradient or all-reduce chunk before it gives the step up
    /// (and the run rolls back). It bounds how long a stage stuck on a lost peer can hold up its own deactivation and
    /// with it the rollback; raise it for models whose single step takes longer than this.
    /// </summary>
    public double MessageTimeoutSeconds { get; set; } = 30;
}
