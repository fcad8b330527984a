using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Training;

/// <summary>Publishes each completed step on the MassTransit bus.</summary>
/// <remarks>The bus itself (a singleton) is the publish endpoint: the grains resolve this once, outside any request scope.</remarks>
public sealed class BusTrainingEventPublisher(IBus bus) : ITrainingEventPublisher
{
    private readonly IPublishEndpoint _publish = bus;

    public Task PublishAsync(TrainingStepCompleted completed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(completed);
        return _publish.Publish(completed, cancellationToken);
    }
}
