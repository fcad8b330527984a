using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>Where a run announces each completed step. The silo publishes on the MassTransit bus.</summary>
public interface ITrainingEventPublisher
{
    Task PublishAsync(TrainingStepCompleted completed, CancellationToken cancellationToken = default);
}

/// <summary>For hosts without a bus (unit tests of the grains): events go nowhere, the run's own history still has them.</summary>
public sealed class NoTrainingEventPublisher : ITrainingEventPublisher
{
    public Task PublishAsync(TrainingStepCompleted completed, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
