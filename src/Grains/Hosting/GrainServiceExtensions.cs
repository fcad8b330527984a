using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using InsideLLMs.Distributed.Grains.Cluster;
using Orleans.Hosting;

namespace InsideLLMs.Distributed.Grains.Hosting;

public static class GrainServiceExtensions
{
    /// <summary>
    /// What the training grains need in a silo: the compute threads (section "Compute"), the dataset cache and,
    /// unless the host registered one, an event publisher that drops events.
    /// </summary>
    public static IServiceCollection AddTrainingServices(this IServiceCollection services, IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = configuration?.GetSection(ComputeOptions.Section).Get<ComputeOptions>() ?? new ComputeOptions();
        services.TryAddSingleton(options);
        services.TryAddSingleton<ComputeScheduler>();
        services.TryAddSingleton<DatasetCache>();
        services.TryAddSingleton<TrainingMetrics>();
        services.TryAddSingleton<ITrainingEventPublisher, NoTrainingEventPublisher>();
        if (!services.Any(d => d.ServiceType == typeof(StagePlacementDirector)))
        {
            services.AddPlacementDirector<StagePlacement, StagePlacementDirector>();
        }

        return services;
    }
}
