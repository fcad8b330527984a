using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using Microsoft.Extensions.Options;

namespace InsideLLMs.Distributed.Silo.Training;

public sealed class TrainingSupervisorOptions
{
    public const string Section = "Training";

    /// <summary>How often every silo wakes the active runs. Failover takes ~6 s, so 2 s adds little to it.</summary>
    public double SupervisorIntervalSeconds { get; set; } = 2;
}

/// <summary>
/// Runs in every silo: each tick it asks the registries for the active training and PPO runs and wakes each one, so a
/// run whose grain was on a lost silo is reactivated on a survivor and resumes from its last checkpoint. During failover
/// calls fail for a few seconds; a failed tick is logged at Debug and tried again at the next.
/// </summary>
public sealed partial class TrainingSupervisor(
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    IOptions<TrainingSupervisorOptions> options,
    ILogger<TrainingSupervisor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // ApplicationStarted fires after every hosted service, the silo included, has started.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var interval = TimeSpan.FromSeconds(Math.Max(0.1, options.Value.SupervisorIntervalSeconds));
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                await TickAsync(stoppingToken);
            }
            while (await WaitAsync(timer, stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // the silo is stopping
        }
    }

    /// <summary>One pass: wake every active training run, then every active PPO run. Never throws except for cancellation.</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await WakeAsync(TrainingStorage.RegistryKey, run => grains.GetGrain<ITrainingRunGrain>(run).EnsureRunningAsync(), cancellationToken);
        await WakeAsync(PpoNames.RegistryKey, run => grains.GetGrain<IPpoRunGrain>(run).EnsureRunningAsync(), cancellationToken);
    }

    private async Task WakeAsync(string registry, Func<string, Task> wake, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> runs;
        try
        {
            runs = await grains.GetGrain<ITrainingRegistryGrain>(registry).GetActiveRunsAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogRegistryFailed(e.GetType().Name, e.Message);
            return;
        }

        foreach (var run in runs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await wake(run);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogWakeFailed(run, e.GetType().Name, e.Message);
            }
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Training supervisor: the registry did not answer ({Type}: {Reason}); trying again next tick.")]
    private partial void LogRegistryFailed(string type, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Training supervisor: run {Run} did not wake ({Type}: {Reason}); trying again next tick.")]
    private partial void LogWakeFailed(string run, string type, string reason);
}
